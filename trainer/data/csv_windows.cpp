#include "trainer/data/csv_windows.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "engine/error.h"
#include "trainer/data/file_text.h"
#include "trainer/data/gzip_stream.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

constexpr size_t kInflateBytes = size_t{1} << 20;  // the least a .gz read inflates at once

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
        gzip_ = std::make_unique<GzipStream>(path);
        size_ = std::numeric_limits<size_t>::max();
        disk_bytes_ = gzip_->disk_bytes();
    } else {
        file_ = std::make_unique<ReadOnlyFile>(path);
        size_ = static_cast<size_t>(file_->size());
        disk_bytes_ = file_->size();
    }
    // The header: the first line that ends outside quotes (the whole file if none does).
    for (size_t want = 4096;; want *= 2) {
        buffer_.resize(want);
        const size_t have = read(0, buffer_.data(), want);
        buffer_.resize(have);
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
        if (have < want) {
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

CsvWindows::~CsvWindows() = default;

size_t CsvWindows::inflate_through(size_t end) {
    while (inflated_offset_ + inflated_.size() < end && size_ == std::numeric_limits<size_t>::max()) {
        const size_t have = inflated_.size();
        const size_t want = std::max<size_t>(end - inflated_offset_ - have, kInflateBytes);
        inflated_.resize(have + want);
        const size_t got = gzip_->read(inflated_.data() + have, want);
        inflated_.resize(have + got);
        if (got < want) size_ = inflated_offset_ + inflated_.size();
    }
    return std::min(end, inflated_offset_ + inflated_.size());
}

size_t CsvWindows::read(size_t offset, char* out, size_t bytes) {
    if (gzip_ != nullptr) {
        if (offset < inflated_offset_) throw std::logic_error(path_ + ": a .gz file is read forward only");
        // Text before `offset` is passed for good: inflated in pieces and dropped.
        while (inflated_offset_ + inflated_.size() < offset && size_ == std::numeric_limits<size_t>::max()) {
            inflated_offset_ += inflated_.size();
            inflated_.clear();
            inflate_through(std::min(offset, inflated_offset_ + kInflateBytes));
        }
        // Dropped once it is at least half the buffer, so the moves cost no more than the text.
        const size_t passed = std::min(offset - inflated_offset_, inflated_.size());
        if (passed > 0 && 2 * passed >= inflated_.size()) {
            inflated_.erase(inflated_.begin(), inflated_.begin() + static_cast<std::ptrdiff_t>(passed));
            inflated_offset_ += passed;
        }
        // One byte past the range: a range that ends the text then knows it does.
        const size_t end = inflate_through(offset + bytes + 1);
        const size_t got = end > offset ? std::min(bytes, end - offset) : 0;
        if (got > 0) std::memcpy(out, inflated_.data() + (offset - inflated_offset_), got);
        return got;
    }
    const size_t want = offset >= size_ ? 0 : std::min(bytes, size_ - offset);
    for (size_t done = 0; done < want;) {
        const ssize_t got = ::pread(file_->fd(), out + done, want - done, static_cast<off_t>(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            throw DataError(path_, 0, "", got == 0 ? "the file ended early (it changed while being read)"
                                                   : std::string("cannot read the file: ") + std::strerror(errno));
        done += static_cast<size_t>(got);
    }
    return want;
}

bool CsvWindows::next() {
    if (position_ >= size_) return false;
    for (;; want_ *= 2) {
        buffer_.resize(header_size_ + want_);
        const size_t have = read(position_, buffer_.data() + header_size_, want_);
        buffer_.resize(header_size_ + have);
        if (have == 0) return false;
        body_size_ = position_ + have == size_ ? have : last_line_end({buffer_.data() + header_size_, have});
        if (body_size_ > 0) return true;
    }
}

std::string CsvWindows::read_range(int64_t offset, int64_t bytes) {
    std::string out(static_cast<size_t>(bytes), '\0');
    if (read(static_cast<size_t>(offset), out.data(), out.size()) < out.size())
        throw DataError(path_, 0, "", "the file ended early (it changed while being read)");
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
