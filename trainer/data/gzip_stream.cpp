#include "trainer/data/gzip_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace skipper::data {

namespace {
constexpr size_t kInputBytes = size_t{1} << 20;
}

GzipStream::GzipStream(const std::string& path) : path_(path), file_(path), input_(kInputBytes) {
    ::posix_fadvise(file_.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
}

GzipStream::~GzipStream() {
    if (member_open_) inflateEnd(&stream_);
}

bool GzipStream::fill_input() {
    for (;;) {
        const ssize_t got = ::read(file_.fd(), input_.data(), input_.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw DataError(path_, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(got);
        return got > 0;
    }
}

size_t GzipStream::read(char* out, size_t bytes) {
    size_t produced = 0;
    while (produced < bytes && !finished_) {
        if (stream_.avail_in == 0 && !fill_input()) {
            // The file ends: fine between members, truncated inside one.
            if (member_open_) throw DataError(path_, 0, "", "the gzip file is truncated");
            finished_ = true;
            break;
        }
        if (!member_open_) {
            // inflateInit2 keeps next_in/avail_in: the next member starts where the last one ended.
            if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) throw DataError(path_, 0, "", "cannot start zlib");
            member_open_ = true;
        }
        stream_.next_out = reinterpret_cast<unsigned char*>(out + produced);
        stream_.avail_out = static_cast<uInt>(std::min<size_t>(bytes - produced, size_t{1} << 30));
        const uInt before = stream_.avail_out;
        const int status = inflate(&stream_, Z_NO_FLUSH);
        produced += before - stream_.avail_out;
        if (status == Z_STREAM_END) {
            inflateEnd(&stream_);
            member_open_ = false;
        } else if (status != Z_OK && status != Z_BUF_ERROR) {
            throw DataError(path_, 0, "", "corrupt gzip data: " +
                                              (stream_.msg != nullptr ? std::string(stream_.msg) : "code " + std::to_string(status)));
        }
    }
    return produced;
}

}  // namespace skipper::data
