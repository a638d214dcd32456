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

struct ScannedSession {
    uint64_t hash = 0;       // session_hash of its id
    int32_t rows = 0;        // its lines
    int64_t begin = 0;       // file offset of its first line
    int64_t end = 0;         // one past its last line (its lines are [begin, end) in a contiguous file)
    int64_t first_line = 0;  // 1-based file line of its first row
};

struct FileScan {
    std::string path;
    int64_t disk_bytes = 0;
    int64_t rows = 0;         // data lines with a session id
    bool contiguous = true;   // every session's lines form one run
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

// Where the last session of a window's body begins (a byte offset into it,
// at a line start; 0 when the body holds one session): pass 2 parses the
// sessions before it and leaves that one to the next window. `column` is the
// session-id field's index.
size_t last_session_start(std::string_view body, int64_t column);

// The session id of the line at `offset` of a log file (for error messages).
std::string session_id_at(const std::string& path, int64_t offset);

}  // namespace skipper::data
