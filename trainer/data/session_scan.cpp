#include "trainer/data/session_scan.h"

#include <cstring>
#include <unordered_map>

#include "engine/error.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/layout.h"

namespace skipper::data {

namespace {

int64_t session_id_column(const CsvWindows& windows) {
    const int64_t column = csv_column(windows.header(), "session_id");
    if (column < 0) throw DataError(windows.path(), 1, "session_id", "missing required column 'session_id'");
    return column;
}

// One CSV record of `body` from `p`: its end (past the newline) and its text
// without the line end. A newline inside quotes does not end it.
const char* next_record(const char* p, const char* end, std::string_view& line, int64_t& newlines) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = nl != nullptr ? nl : end;
    newlines = nl != nullptr ? 1 : 0;
    if (std::memchr(p, '"', static_cast<size_t>(stop - p)) != nullptr) {
        bool quoted = false;
        newlines = 0;
        const char* q = p;
        for (; q < end; ++q) {
            if (*q == '"') quoted = !quoted;
            else if (*q == '\n') {
                ++newlines;
                if (!quoted) break;
            }
        }
        stop = q;
    }
    line = {p, static_cast<size_t>(stop - p)};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return stop < end ? stop + 1 : end;
}

// The id field of a line: the first field without quotes is the common case.
bool id_of(std::string_view line, int64_t column, std::string& scratch, std::string_view& id) {
    if (column == 0 && !line.empty() && line[0] != '"') {
        const size_t comma = line.find(',');
        id = line.substr(0, comma);
        return comma != std::string_view::npos;
    }
    return csv_field(line, static_cast<size_t>(column), scratch, id);
}

}  // namespace

FileScan scan_session_file(const std::string& path, double sample_fraction, uint64_t keep_ids_at_most,
                           int64_t window_bytes) {
    CsvWindows windows(path, window_bytes);
    const int64_t column = session_id_column(windows);
    FileScan scan;
    scan.path = path;
    scan.disk_bytes = windows.disk_bytes();
    std::unordered_map<uint64_t, int32_t> index_of;  // hash -> index in scan.sessions
    std::string previous, scratch;
    int32_t current = -1;  // index of the previous line's session; -1: not kept
    while (windows.next()) {
        const std::string_view body = windows.body();
        const char* p = body.data();
        const char* const end = p + body.size();
        int64_t line_number = windows.body_line();
        while (p < end) {
            std::string_view line, id;
            int64_t newlines = 0;
            const int64_t offset = windows.body_offset() + (p - body.data());
            const char* next = next_record(p, end, line, newlines);
            const int64_t number = line_number;
            line_number += newlines;
            p = next;
            if (line.empty() || !id_of(line, column, scratch, id) || id.empty()) continue;  // the parser reports it in pass 2
            ++scan.rows;
            if (id != previous) {
                previous.assign(id);
                const uint64_t hash = session_hash(id);
                current = -1;
                if (!keep_sampled_session(hash, sample_fraction)) continue;
                const auto [it, added] = index_of.try_emplace(hash, static_cast<int32_t>(scan.sessions.size()));
                current = it->second;
                if (added) {
                    scan.sessions.push_back({hash, 0, offset, offset, number});
                    scan.ids.emplace_back(hash <= keep_ids_at_most ? std::string(id) : std::string());
                } else {
                    scan.contiguous = false;
                }
            }
            if (current < 0) continue;
            ScannedSession& session = scan.sessions[static_cast<size_t>(current)];
            ++session.rows;
            session.end = windows.body_offset() + (next - body.data());
        }
        windows.consume(body.size());
    }
    return scan;
}

size_t last_session_start(std::string_view body, int64_t column) {
    std::string scratch, last;
    std::string_view line, id;
    int64_t newlines = 0;
    if (std::memchr(body.data(), '"', body.size()) != nullptr) {
        // Quoted fields may hold newlines: walk the records forward.
        size_t start = 0;
        for (const char* p = body.data(); p < body.data() + body.size();) {
            const char* next = next_record(p, body.data() + body.size(), line, newlines);
            if (id_of(line, column, scratch, id) && id != last) {
                start = static_cast<size_t>(p - body.data());
                last.assign(id);
            }
            p = next;
        }
        return start;
    }
    // No quotes: step back line by line from the end while the id stays the same.
    size_t end = body.size();
    if (end > 0 && body[end - 1] == '\n') --end;
    size_t start = body.rfind('\n', end == 0 ? 0 : end - 1);
    start = start == std::string_view::npos || end == 0 ? 0 : start + 1;
    next_record(body.data() + start, body.data() + body.size(), line, newlines);
    if (!id_of(line, column, scratch, id)) return start;
    last.assign(id);
    while (start > 0) {
        const size_t previous_end = start - 1;  // the newline ending the line before
        const size_t found = previous_end == 0 ? std::string_view::npos : body.rfind('\n', previous_end - 1);
        const size_t previous = found == std::string_view::npos ? 0 : found + 1;
        next_record(body.data() + previous, body.data() + body.size(), line, newlines);
        if (!line.empty() && (!id_of(line, column, scratch, id) || id != last)) return start;
        start = previous;
    }
    return 0;
}

std::string session_id_at(const std::string& path, int64_t offset) {
    CsvWindows windows(path, 1 << 16);
    const int64_t column = session_id_column(windows);
    // Windows start where the last one was consumed: skip to the offset.
    while (windows.next()) {
        const std::string_view body = windows.body();
        if (windows.body_offset() + static_cast<int64_t>(body.size()) <= offset) {
            windows.consume(body.size());
            continue;
        }
        const auto at = static_cast<size_t>(offset - windows.body_offset());
        std::string_view line, id;
        int64_t newlines = 0;
        next_record(body.data() + at, body.data() + body.size(), line, newlines);
        std::string scratch;
        return id_of(line, column, scratch, id) ? std::string(id) : std::string();
    }
    return {};
}

}  // namespace skipper::data
