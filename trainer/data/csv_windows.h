// A CSV file read in windows of whole lines, so that the CSV parser sees a
// small text: a file of any size is read in bounded memory. The header line
// is kept apart (the parser takes it and a window's body separately). A plain
// file is mapped read-only and a window is a view of the mapping: nothing is
// copied, and the pages of the windows taken are given back once their
// readers are done (file-backed pages count in the resident size). A .gz
// file is inflated as the windows advance (GzipStream), so it is read
// forward only: read_range then takes ranges in file order.
// Windows end where one of the parser's records ends (csv_cursor.h: a quote
// inside an unquoted field is text); the reader of a window may take only a
// prefix of it (consume or take), and the rest starts the next window.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace skipper::data {

class GzipStream;
class ReadOnlyFile;
class MappedFile;

// A window's body handed out by CsvWindows::take: its bytes stay readable
// while `owner` lives, whatever the reader does next (or after it is gone).
struct WindowText {
    std::string_view body;
    std::shared_ptr<const void> owner;
};

// Where windows end. checked: at the last record end (csv_cursor.h), every
// line counted as the windows pass (body_line). unchecked: at the last
// newline, nothing counted and no quote looked for, so the reader does not
// pass over each window before its worker does: for a reader that knows the
// text has no quotes (pass 1 found none) or checks each window itself. Its
// lines are then its own to count (body_line is unknown).
enum class WindowEnds { checked, unchecked };

class CsvWindows {
public:
    CsvWindows(const std::string& path, int64_t window_bytes, WindowEnds ends = WindowEnds::checked);
    ~CsvWindows();
    CsvWindows(const CsvWindows&) = delete;
    CsvWindows& operator=(const CsvWindows&) = delete;

    const std::string& path() const { return path_; }
    // The header line, its line end included (a UTF-8 byte-order mark too).
    std::string_view header() const { return header_; }
    // Reads the next window: the whole lines after what was consumed, about
    // window_bytes of them (more when the last window was not consumed at
    // all). False once the whole file is consumed. A plain file that became
    // shorter than when it was opened is a DataError.
    bool next();
    // The window's text after the header, readable until the next next() (a
    // .gz file) or while this reader lives (a plain file); take() keeps it longer.
    std::string_view body() const { return {body_data_, body_size_}; }
    // File offset and 1-based file line of the body's first byte (checked windows only).
    int64_t body_offset() const { return static_cast<int64_t>(position_); }
    int64_t body_line() const;
    // The header's lines: a body line L is ReadOptions::line_offset L - 1 - header_lines.
    int64_t header_lines() const { return header_lines_; }
    // For ReadOptions::line_offset: the parser then reports the file's lines (checked windows only).
    int64_t line_offset() const { return body_line() - 1 - header_lines_; }
    // The newlines in the file's text [from, to) (plain files only): the lines
    // of unchecked windows, counted from a line whose number is known.
    int64_t newlines_between(int64_t from, int64_t to) const;
    // True when the body runs to the end of the file.
    bool at_end() const { return body_end() == size_; }
    // Takes the first `bytes` of the body (a prefix ending at a line end).
    void consume(size_t bytes);
    // Consumes the first `bytes` of the body and hands them out, to be read
    // (on another thread too) while this reader moves on.
    WindowText take(size_t bytes);
    // Any bytes of the file's text, read apart from the windows (for .gz: at
    // or after the last range read and the current body).
    std::string read_range(int64_t offset, int64_t bytes);
    // Bytes of the file on disk (compressed for .gz).
    int64_t disk_bytes() const { return disk_bytes_; }

private:
    // .gz: reads up to `bytes` of the text at `offset`: fewer only at its
    // end, which size_ then holds.
    size_t inflated_read(size_t offset, char* out, size_t bytes);
    size_t inflate_through(size_t end);  // .gz: inflated_ covers the text up to `end` (or its end)
    size_t body_end() const { return position_ + body_size_; }
    void advance(size_t bytes);  // consume() but for the pages
    // Plain files: a DataError when the file is now shorter than mapped
    // (reading the mapping past the file's end would be a bus error).
    void check_unchanged() const;

    std::string path_;
    int64_t window_bytes_;
    WindowEnds ends_;
    std::unique_ptr<ReadOnlyFile> file_;       // plain files only
    std::shared_ptr<const MappedFile> mapped_;  // plain files only (none when empty)
    std::unique_ptr<GzipStream> gzip_;  // .gz files only
    std::vector<char> inflated_;        // .gz: the text from inflated_offset_ on, inflated and not yet passed
    size_t inflated_offset_ = 0;
    std::shared_ptr<std::vector<char>> gzip_body_;  // .gz: the body; a new one when a taken window holds it
    size_t size_ = 0;                   // the text's size; for .gz, SIZE_MAX until its end is inflated
    int64_t disk_bytes_ = 0;
    std::string header_;
    int64_t header_lines_ = 0;
    const char* body_data_ = nullptr;
    size_t position_ = 0;   // file offset of the body's first byte
    size_t body_size_ = 0;
    int64_t body_newlines_ = -1;  // the body's newlines; -1 when it holds a quote or is unchecked (counted when consumed)
    size_t want_ = 0;       // bytes the next window reads: window_bytes, doubled while nothing is consumed
    int64_t body_line_ = 1; // 1-based file line of the body's first byte (checked windows only)
};

// Field `index` of one CSV line (no line end), unquoted; false when the line
// has fewer fields. `scratch` holds the text of a quoted field.
bool csv_field(std::string_view line, size_t index, std::string& scratch, std::string_view& out);

// The index of the header field named `name` (the header as CsvWindows gives
// it); -1 if none.
int64_t csv_column(std::string_view header, const std::string& name);

}  // namespace skipper::data
