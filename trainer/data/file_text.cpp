#include "trainer/data/file_text.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "trainer/data/gzip_stream.h"

namespace skipper::data {

bool is_gzip_path(const std::string& path) { return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0; }

ReadOnlyFile::ReadOnlyFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw DataError(path, 0, "", std::string("cannot open the file: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
        const int error = errno;
        ::close(fd_);
        throw DataError(path, 0, "", std::string("cannot read the file: ") + std::strerror(error));
    }
    size_ = info.st_size;
}

ReadOnlyFile::~ReadOnlyFile() { ::close(fd_); }

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
    const ReadOnlyFile file(path);
    disk_bytes_ = file.size();
    // MADV_WILLNEED: what MADV_SEQUENTIAL | MADV_WILLNEED (3) always amounted to.
    mapped_.emplace(file, path, MADV_WILLNEED);
    data_ = mapped_->data();
    size_ = mapped_->size();
}

FileText::~FileText() = default;

MappedFile::MappedFile(const ReadOnlyFile& file, const std::string& path, int advice) : size_(static_cast<size_t>(file.size())) {
    if (size_ == 0) return;
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd(), 0);
    if (mapped == MAP_FAILED) throw DataError(path, 0, "", std::string("cannot map the file: ") + std::strerror(errno));
    ::madvise(mapped, size_, advice);
    mapping_ = mapped;
}

MappedFile::~MappedFile() {
    if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

void MappedFile::drop(size_t begin, size_t end) const {
    static const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    begin = begin / page * page;
    end = std::min((end + page - 1) / page * page, (size_ + page - 1) / page * page);
    // Advice: on failure the pages just stay resident.
    if (begin < end) ::madvise(static_cast<char*>(mapping_) + begin, end - begin, MADV_DONTNEED);
}

}  // namespace skipper::data
