#include "trainer/data/file_text.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "trainer/data/gzip_stream.h"

namespace skipper::data {

namespace {

// Closes the descriptor on every path out of the constructor.
struct Descriptor {
    int fd;
    ~Descriptor() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

bool is_gzip_path(const std::string& path) { return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0; }

FileText::FileText(const std::string& path) {
    if (is_gzip_path(path)) {
        GzipStream gzip(path);
        disk_bytes_ = gzip.disk_bytes();
        // The output grows geometrically from a guess of 4x the input.
        inflated_.resize(static_cast<size_t>(disk_bytes_) * 4 + 4096);
        size_t produced = 0;
        for (;;) {
            if (produced == inflated_.size()) inflated_.resize(inflated_.size() * 2);
            const size_t got = gzip.read(inflated_.data() + produced, inflated_.size() - produced);
            if (got == 0) break;
            produced += got;
        }
        inflated_.resize(produced);
        inflated_.shrink_to_fit();
        data_ = inflated_.data();
        size_ = inflated_.size();
        return;
    }
    const Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) throw DataError(path, 0, "", std::string("cannot open the file: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(file.fd, &info) != 0) throw DataError(path, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
    const auto size = static_cast<size_t>(info.st_size);
    disk_bytes_ = info.st_size;
    if (size == 0) return;
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
    if (mapped == MAP_FAILED) throw DataError(path, 0, "", std::string("cannot map the file: ") + std::strerror(errno));
    ::madvise(mapped, size, MADV_SEQUENTIAL | MADV_WILLNEED);
    mapping_ = mapped;
    data_ = static_cast<const char*>(mapped);
    size_ = size;
}

FileText::~FileText() {
    if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

}  // namespace skipper::data
