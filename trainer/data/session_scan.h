// Pass 1 of the streaming ingest (ingest.h): a log file's session-id column
// alone, read in bounded windows, without parsing the other 20 columns. It
// gives what must be known before any row is binned: each session's rows and
// where its lines lie (to fetch the bin sample's sessions later), whether the
// file keeps each session's lines together (MSSD's files do; pass 2 then cuts
// its windows between sessions), and the ids of the sessions that may enter
// the bin sample.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skipper::data {

class CsvWindows;

struct ScannedSession {
    uint64_t hash = 0;       // session_hash of its id
    int32_t rows = 0;        // its lines
    int64_t begin = 0;       // file offset of its first line
    int64_t end = 0;         // one past its last line (its lines are [begin, end) in a contiguous file)
    int64_t first_line = 0;  // 1-based file line of its first row
};

// A line start whose file line is known: readers that do not count lines as
// they go (unchecked windows, csv_windows.h) count from the nearest one.
struct LineMark {
    int64_t offset = 0;  // file offset of a line's first byte
    int64_t line = 0;    // its 1-based file line
};

struct FileScan {
    std::string path;
    int64_t disk_bytes = 0;
    int64_t rows = 0;         // data lines with a session id
    bool contiguous = true;   // every session's lines form one run
    bool quoted = false;      // some line holds a quote: its readers must end windows outside quotes
    // The body's first line, then a line start about every kLineMarkBytes of
    // text, in file order (a few per window, whatever the file's size).
    static constexpr int64_t kLineMarkBytes = int64_t{1} << 20;
    std::vector<LineMark> line_marks;
    std::vector<ScannedSession> sessions;  // in order of first appearance
    // ids[i] is sessions[i]'s id when its hash is at most the scan's
    // keep_ids_at_most (the bin sample's candidates), empty otherwise.
    std::vector<std::string> ids;
};

// The sessions that sample_sessions=fraction keeps (by hash).
// Windows of window_bytes / threads are scanned on `threads` threads at once
// (0: every core) and merged in file order.
FileScan scan_session_file(const std::string& path, double sample_fraction, uint64_t keep_ids_at_most,
                           int64_t window_bytes, int threads = 0);

// The 1-based file line of the line starting at `offset`, from the nearest of
// a scan's line_marks at or before it and the newlines between (read from
// `windows`, over the same plain file).
int64_t line_at(const std::vector<LineMark>& marks, const CsvWindows& windows, int64_t offset);

// Where the last session of a window's body begins (a byte offset into it,
// at a line start; 0 when the body holds one session): pass 2 parses the
// sessions before it and leaves that one to the next window. `column` is the
// session-id field's index. A body that may hold quotes is walked forward
// from its start (a quoted field may hold a newline); one known to hold none
// (its file's scan found none) is stepped back from its end alone.
enum class Quotes { possible, none };
size_t last_session_start(std::string_view body, int64_t column, Quotes quotes = Quotes::possible);

// The session id of the line at `offset` of a log file (for error messages).
std::string session_id_at(const std::string& path, int64_t offset);

}  // namespace skipper::data
