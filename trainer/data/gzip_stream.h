// A .gz file inflated forward, piece by piece, in bounded memory: zlib over
// a file read in 1 MB pieces. Several gzip members one after another (gzip -c
// a b > c) read as one text. A corrupt or truncated file is a DataError
// naming it, never a short read.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/file_text.h"

namespace skipper::data {

class GzipStream {
public:
    explicit GzipStream(const std::string& path);
    ~GzipStream();
    GzipStream(const GzipStream&) = delete;
    GzipStream& operator=(const GzipStream&) = delete;

    // Inflates up to `bytes` more bytes into `out`; fewer only at the end of
    // the file (0 once everything was read).
    size_t read(char* out, size_t bytes);
    // Bytes of the file on disk (compressed).
    int64_t disk_bytes() const { return file_.size(); }

private:
    bool fill_input();  // false at the end of the file

    std::string path_;
    ReadOnlyFile file_;
    std::vector<unsigned char> input_;
    z_stream stream_{};
    bool member_open_ = false;  // inside a gzip member (inflateInit2 done, not ended)
    bool finished_ = false;
};

}  // namespace skipper::data
