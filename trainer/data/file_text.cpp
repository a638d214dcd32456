#include "trainer/data/file_text.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace skipper::data {

namespace {

// Closes the descriptor on every path out of the constructor.
struct Descriptor {
    int fd;
    ~Descriptor() {
        if (fd >= 0) ::close(fd);
    }
};

// Inflates gzip members one after another (gzip -c a b > c is valid gzip).
// The output grows geometrically from a guess of 4x the input.
std::vector<char> inflate_gzip(const std::string& path, const unsigned char* in, size_t in_size) {
    std::vector<char> out(in_size * 4 + 4096);
    size_t produced = 0;
    size_t consumed = 0;
    while (consumed < in_size) {
        z_stream stream{};
        if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw DataError(path, 0, "", "cannot start zlib");
        // zlib counts in uInt: feed the input in pieces below 4 GiB.
        int status = Z_OK;
        while (status != Z_STREAM_END) {
            if (stream.avail_in == 0) {
                const size_t left = in_size - consumed;
                stream.next_in = const_cast<unsigned char*>(in + consumed);
                stream.avail_in = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
                consumed += stream.avail_in;
            }
            if (produced == out.size()) out.resize(out.size() * 2);
            stream.next_out = reinterpret_cast<unsigned char*>(out.data() + produced);
            stream.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
            const uInt before = stream.avail_out;
            status = inflate(&stream, Z_NO_FLUSH);
            produced += before - stream.avail_out;
            if (status == Z_STREAM_END) break;
            if (status != Z_OK && status != Z_BUF_ERROR) {
                const std::string message = stream.msg != nullptr ? stream.msg : "code " + std::to_string(status);
                inflateEnd(&stream);
                throw DataError(path, 0, "", "corrupt gzip data: " + message);
            }
            if (status == Z_BUF_ERROR && stream.avail_in == 0 && consumed == in_size) {
                inflateEnd(&stream);
                throw DataError(path, 0, "", "the gzip file is truncated");
            }
        }
        consumed -= stream.avail_in;  // bytes after this member start the next one
        inflateEnd(&stream);
    }
    out.resize(produced);
    out.shrink_to_fit();
    return out;
}

}  // namespace

bool is_gzip_path(const std::string& path) { return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0; }

FileText::FileText(const std::string& path) {
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
    if (!is_gzip_path(path)) {
        mapping_ = mapped;
        data_ = static_cast<const char*>(mapped);
        size_ = size;
        return;
    }
    try {
        inflated_ = inflate_gzip(path, static_cast<const unsigned char*>(mapped), size);
    } catch (...) {
        ::munmap(mapped, size);
        throw;
    }
    ::munmap(mapped, size);
    data_ = inflated_.data();
    size_ = inflated_.size();
}

FileText::~FileText() {
    if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

}  // namespace skipper::data
