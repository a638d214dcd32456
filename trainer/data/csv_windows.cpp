#include "trainer/data/csv_windows.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "engine/error.h"
#include "trainer/data/csv_cursor.h"
#include "trainer/data/file_text.h"
#include "trainer/data/gzip_stream.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

constexpr size_t kInflateBytes = size_t{1} << 20;  // the least a .gz read inflates at once

// The end (one past the newline) of the first line of `text` that ends
// outside quotes, or 0 when none does.
size_t first_line_end(std::string_view text) {
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '"') quoted = !quoted;
        else if (text[i] == '\n' && !quoted) return i + 1;
    }
    return 0;
}

// A taken window of a mapped file: its pages are dropped once its last reader is done.
struct TakenPages {
    std::shared_ptr<const MappedFile> file;
    size_t begin = 0, end = 0;
    TakenPages(std::shared_ptr<const MappedFile> mapped, size_t from, size_t to) : file(std::move(mapped)), begin(from), end(to) {}
    ~TakenPages() { file->drop(begin, end); }
    TakenPages(const TakenPages&) = delete;
    TakenPages& operator=(const TakenPages&) = delete;
};

}  // namespace

CsvWindows::CsvWindows(const std::string& path, int64_t window_bytes, WindowEnds ends)
    : path_(path), window_bytes_(window_bytes), ends_(ends) {
    size_t header_size = 0;
    if (is_gzip_path(path)) {
        gzip_ = std::make_unique<GzipStream>(path);
        size_ = std::numeric_limits<size_t>::max();
        disk_bytes_ = gzip_->disk_bytes();
        gzip_body_ = std::make_shared<std::vector<char>>();
        // The header: the first line that ends outside quotes (the whole text if none does).
        std::vector<char> start;
        for (size_t want = 4096;; want *= 2) {
            start.resize(want);
            const size_t have = inflated_read(0, start.data(), want);
            header_size = first_line_end({start.data(), have});
            if (header_size > 0) break;
            if (have < want) {
                header_size = have;
                break;
            }
        }
        header_.assign(start.data(), header_size);
    } else {
        file_ = std::make_unique<ReadOnlyFile>(path);
        size_ = static_cast<size_t>(file_->size());
        disk_bytes_ = file_->size();
        // Sequential: the kernel reads ahead, and drops the pages read behind sooner.
        mapped_ = std::make_shared<const MappedFile>(*file_, path, MADV_SEQUENTIAL);
        const std::string_view text(mapped_->data(), size_);
        header_size = first_line_end(text);
        if (header_size == 0) header_size = size_;
        header_.assign(text.substr(0, header_size));
    }
    header_lines_ = std::count(header_.begin(), header_.end(), '\n');
    position_ = header_size;
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

size_t CsvWindows::inflated_read(size_t offset, char* out, size_t bytes) {
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

void CsvWindows::check_unchanged() const {
    struct stat info {};
    if (::fstat(file_->fd(), &info) != 0)
        throw DataError(path_, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
    if (static_cast<size_t>(info.st_size) < size_)
        throw DataError(path_, 0, "", "the file ended early (it changed while being read)");
}

bool CsvWindows::next() {
    if (position_ >= size_) return false;
    if (mapped_ != nullptr) check_unchanged();
    for (;; want_ *= 2) {
        size_t have = 0;
        if (gzip_ != nullptr) {
            // A taken window may still read the last buffer.
            if (gzip_body_.use_count() > 1) gzip_body_ = std::make_shared<std::vector<char>>();
            gzip_body_->resize(want_);
            have = inflated_read(position_, gzip_body_->data(), want_);
            gzip_body_->resize(have);
            body_data_ = gzip_body_->data();
        } else {
            have = std::min(want_, size_ - position_);
            body_data_ = mapped_->data() + position_;
        }
        if (have == 0) return false;
        // Without quotes every newline ends a line: the body ends at the last one, and holds them all.
        const std::string_view window(body_data_, have);
        body_newlines_ = ends_ == WindowEnds::checked ? count_newlines_unquoted(body_data_, body_data_ + have) : -1;
        if (position_ + have == size_) body_size_ = have;
        else if (ends_ == WindowEnds::unchecked || body_newlines_ >= 0) body_size_ = window.rfind('\n') + 1;  // npos + 1: 0
        else body_size_ = csv::last_record_end(window);
        if (body_size_ > 0) return true;
    }
}

std::string CsvWindows::read_range(int64_t offset, int64_t bytes) {
    std::string out(static_cast<size_t>(bytes), '\0');
    const auto begin = static_cast<size_t>(offset);
    size_t got = 0;
    if (gzip_ != nullptr) {
        got = inflated_read(begin, out.data(), out.size());
    } else if (begin <= size_ && out.size() <= size_ - begin) {
        // Read, not copied from the mapping: ranges are small and scattered (the
        // bin sample's sessions), and faulting them in would map their neighbours too.
        for (; got < out.size();) {
            const ssize_t n = ::pread(file_->fd(), out.data() + got, out.size() - got, static_cast<off_t>(begin + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw DataError(path_, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
            if (n == 0) break;
            got += static_cast<size_t>(n);
        }
    }
    if (got < out.size()) throw DataError(path_, 0, "", "the file ended early (it changed while being read)");
    return out;
}

void CsvWindows::consume(size_t bytes) {
    const size_t begin = position_;
    advance(bytes);  // reads them (counting lines): before their pages go
    // Nobody reads these bytes once they are passed: their pages leave the resident size.
    if (mapped_ != nullptr && bytes > 0) mapped_->drop(begin, begin + bytes);
}

int64_t CsvWindows::body_line() const {
    if (ends_ == WindowEnds::unchecked) throw std::logic_error(path_ + ": unchecked windows count no lines");
    return body_line_;
}

int64_t CsvWindows::newlines_between(int64_t from, int64_t to) const {
    if (mapped_ == nullptr || from < 0 || from > to || static_cast<size_t>(to) > size_)
        throw std::logic_error(path_ + ": newlines_between reads a plain file's text only");
    return count_newlines(mapped_->data() + from, mapped_->data() + to);
}

void CsvWindows::advance(size_t bytes) {
    // The body's newlines are known when it has no quotes: count the shorter side of `bytes`.
    if (ends_ == WindowEnds::checked) {
        if (body_newlines_ >= 0 && bytes >= body_size_ / 2)
            body_line_ += body_newlines_ - count_newlines(body_data_ + bytes, body_data_ + body_size_);
        else
            body_line_ += count_newlines(body_data_, body_data_ + bytes);
    }
    position_ += bytes;
    // Nothing taken: the window held too little (one record, one session): read a larger one.
    want_ = bytes == 0 ? 2 * std::max(want_, body_size_) : static_cast<size_t>(window_bytes_);
    body_size_ = 0;
}

WindowText CsvWindows::take(size_t bytes) {
    WindowText taken;
    taken.body = {body_data_, bytes};
    if (gzip_ != nullptr) taken.owner = gzip_body_;
    else if (bytes > 0) taken.owner = std::make_shared<const TakenPages>(mapped_, position_, position_ + bytes);
    advance(bytes);
    return taken;
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
