// The CSV reader's record splitting, shared by the parser (csv.cpp) and by
// those that must cut a text where the parser's records end (its chunks, and
// CsvWindows' windows): a quote opens a quoted field only at a field's start,
// so a stray quote inside an unquoted field is text, and counting quotes for
// parity would cut records the parser reads whole.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace skipper::data::csv {

// The first ',' or '\n' in [p, end), or end. Fields are short, so the
// vector loop looks at 32 bytes at a time and the scalar loop takes the tail.
inline const char* find_delimiter(const char* p, const char* end) {
#ifdef __AVX2__
    const __m256i comma = _mm256_set1_epi8(',');
    const __m256i newline = _mm256_set1_epi8('\n');
    while (end - p >= 32) {
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        const auto hits = static_cast<uint32_t>(_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(block, comma), _mm256_cmpeq_epi8(block, newline))));
        if (hits != 0) return p + __builtin_ctz(hits);
        p += 32;
    }
#endif
    while (p < end && *p != ',' && *p != '\n') ++p;
    return p;
}

// Splits records. A record ends at a newline outside quotes; a trailing \r
// before it is dropped; "" inside a quoted field is one quote.
class FieldCursor {
public:
    FieldCursor(const char* p, const char* end) : p_(p), end_(end) {}

    const char* position() const { return p_; }
    // Moves to the start of a record found by other means.
    void skip_to(const char* p) { p_ = p; }
    bool at_end() const { return p_ >= end_; }
    int64_t newlines_in_quotes() const { return newlines_in_quotes_; }

    // Skips an empty line; true if there was one.
    bool skip_blank_line() {
        if (*p_ == '\n') { ++p_; return true; }
        if (*p_ == '\r' && p_ + 1 < end_ && p_[1] == '\n') { p_ += 2; return true; }
        return false;
    }

    // Reads the next field of the current record into `value` (a view of the
    // file, or of `scratch_` when quoted). Returns false on an unterminated
    // quote. Sets record_done when the field ended its record.
    bool next(std::string_view& value, bool& record_done) {
        if (p_ < end_ && *p_ == '"') {
            scratch_.clear();
            ++p_;
            for (;;) {
                const char* quote = static_cast<const char*>(std::memchr(p_, '"', static_cast<size_t>(end_ - p_)));
                if (quote == nullptr) {
                    value = std::string_view(p_, static_cast<size_t>(end_ - p_));
                    p_ = end_;
                    record_done = true;
                    return false;
                }
                newlines_in_quotes_ += std::count(p_, quote, '\n');
                scratch_.append(p_, quote);
                p_ = quote + 1;
                if (p_ < end_ && *p_ == '"') {
                    scratch_ += '"';
                    ++p_;
                    continue;
                }
                break;
            }
            value = scratch_;
            if (p_ < end_ && *p_ == '\r') ++p_;
        } else {
            const char* start = p_;
            p_ = find_delimiter(p_, end_);
            const char* stop = p_;
            if (stop > start && stop[-1] == '\r' && (p_ == end_ || *p_ == '\n')) --stop;
            value = std::string_view(start, static_cast<size_t>(stop - start));
        }
        if (p_ >= end_) {
            record_done = true;
        } else if (*p_ == ',') {
            ++p_;
            record_done = false;
        } else {
            // A newline, or stray text after a closing quote: end the record at the next newline.
            if (*p_ != '\n') {
                const char* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
                p_ = nl == nullptr ? end_ : nl;
                if (p_ == end_) { record_done = true; return true; }
            }
            ++p_;
            record_done = true;
        }
        return true;
    }

private:
    const char* p_;
    const char* end_;
    std::string scratch_;
    int64_t newlines_in_quotes_ = 0;
};

// The end of the last whole record of `text` (one past the newline that ends
// it), or 0 when no record ends in it: where a window of a longer text may
// end so that the parser reads the same records from the windows as from the
// whole text. A record is whole when its fields were all read and a newline
// outside quotes ended it.
inline size_t last_record_end(std::string_view text) {
    FieldCursor records(text.data(), text.data() + text.size());
    size_t last = 0;
    std::string_view value;
    while (!records.at_end()) {
        bool closed = true;
        for (bool done = false; !done;) closed = records.next(value, done) && closed;
        const char* end = records.position();
        if (closed && end > text.data() && end[-1] == '\n') last = static_cast<size_t>(end - text.data());
    }
    return last;
}

}  // namespace skipper::data::csv
