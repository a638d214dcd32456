#include "trainer/data/csv_windows.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "trainer/data/file_text.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

// The end (one past the newline) of the last line of `text` that ends outside
// quotes, or 0 when no line ends there. Quotes pair up ("" is an escaped
// quote), so a newline is outside quotes when the quotes before it are even.
size_t last_line_end(std::string_view text) {
    if (std::memchr(text.data(), '"', text.size()) == nullptr) {
        const size_t end = text.rfind('\n');
        return end == std::string_view::npos ? 0 : end + 1;
    }
    size_t last = 0;
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '"') quoted = !quoted;
        else if (text[i] == '\n' && !quoted) last = i + 1;
    }
    return last;
}

}  // namespace

CsvWindows::CsvWindows(const std::string& path, int64_t window_bytes) : path_(path), window_bytes_(window_bytes) {
    if (is_gzip_path(path)) {
        inflated_ = std::make_unique<FileText>(path);
        size_ = inflated_->text().size();
        disk_bytes_ = inflated_->disk_bytes();
    } else {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw DataError(path, 0, "", std::string("cannot open the file: ") + std::strerror(errno));
        struct stat info {};
        if (::fstat(fd_, &info) != 0) {
            ::close(fd_);
            throw DataError(path, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
        }
        size_ = static_cast<size_t>(info.st_size);
        disk_bytes_ = info.st_size;
    }
    // The header: the first line that ends outside quotes (the whole file if none does).
    for (size_t want = 4096;; want *= 2) {
        const size_t have = std::min(want, size_);
        buffer_.resize(have);
        read(0, buffer_.data(), have);
        header_size_ = last_line_end({buffer_.data(), have});
        if (header_size_ > 0) {
            // The first such line end, not the last.
            bool quoted = false;
            for (size_t i = 0; i < have; ++i) {
                if (buffer_[i] == '"') quoted = !quoted;
                else if (buffer_[i] == '\n' && !quoted) {
                    header_size_ = i + 1;
                    break;
                }
            }
            break;
        }
        if (have == size_) {
            header_size_ = have;
            break;
        }
    }
    header_lines_ = std::count(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(header_size_), '\n');
    buffer_.resize(header_size_);
    position_ = header_size_;
    want_ = static_cast<size_t>(window_bytes_);
    body_line_ = 1 + header_lines_;
}

CsvWindows::~CsvWindows() {
    if (fd_ >= 0) ::close(fd_);
}

void CsvWindows::read(size_t offset, char* out, size_t bytes) const {
    if (inflated_ != nullptr) {
        std::memcpy(out, inflated_->text().data() + offset, bytes);
        return;
    }
    while (bytes > 0) {
        const ssize_t got = ::pread(fd_, out, bytes, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            throw DataError(path_, 0, "", got == 0 ? "the file ended early (it changed while being read)"
                                                   : std::string("cannot read the file: ") + std::strerror(errno));
        out += got;
        offset += static_cast<size_t>(got);
        bytes -= static_cast<size_t>(got);
    }
}

bool CsvWindows::next() {
    if (position_ >= size_) return false;
    size_t& want = want_;
    for (;; want *= 2) {
        const size_t have = std::min(want, size_ - position_);
        buffer_.resize(header_size_ + have);
        read(position_, buffer_.data() + header_size_, have);
        body_size_ = position_ + have == size_ ? have : last_line_end({buffer_.data() + header_size_, have});
        if (body_size_ > 0) break;
    }
    return true;
}

std::string CsvWindows::read_range(int64_t offset, int64_t bytes) const {
    std::string out(static_cast<size_t>(bytes), '\0');
    read(static_cast<size_t>(offset), out.data(), out.size());
    return out;
}

void CsvWindows::consume(size_t bytes) {
    const char* body = buffer_.data() + header_size_;
    body_line_ += count_newlines(body, body + bytes);
    position_ += bytes;
    // Nothing taken: the window held too little (one record, one session): read a larger one.
    want_ = bytes == 0 ? 2 * std::max(want_, body_size_) : static_cast<size_t>(window_bytes_);
    body_size_ = 0;
}

bool csv_field(std::string_view line, size_t index, std::string& scratch, std::string_view& out) {
    size_t i = 0;
    for (size_t field = 0;; ++field) {
        if (i < line.size() && line[i] == '"') {
            // A quoted field: "" stands for one quote.
            scratch.clear();
            size_t j = i + 1;
            for (; j < line.size(); ++j) {
                if (line[j] != '"') {
                    scratch += line[j];
                    continue;
                }
                if (j + 1 < line.size() && line[j + 1] == '"') {
                    scratch += '"';
                    ++j;
                    continue;
                }
                break;
            }
            const size_t comma = line.find(',', j);
            if (field == index) {
                out = scratch;
                return true;
            }
            if (comma == std::string_view::npos) return false;
            i = comma + 1;
            continue;
        }
        const size_t comma = line.find(',', i);
        if (field == index) {
            out = line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
            if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
            return true;
        }
        if (comma == std::string_view::npos) return false;
        i = comma + 1;
    }
}

int64_t csv_column(std::string_view header, const std::string& name) {
    if (header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3);
    while (!header.empty() && (header.back() == '\n' || header.back() == '\r')) header.remove_suffix(1);
    std::string scratch;
    std::string_view field;
    for (size_t i = 0; csv_field(header, i, scratch, field); ++i)
        if (field == name) return static_cast<int64_t>(i);
    return -1;
}

}  // namespace skipper::data
