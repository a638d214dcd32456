#include "trainer/data/session_scan.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/error.h"
#include "trainer/data/csv_cursor.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/hash_index.h"
#include "trainer/data/layout.h"
#include "trainer/data/ordered_jobs.h"
#include "trainer/data/text_codes.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

int64_t session_id_column(const CsvWindows& windows) {
    const int64_t column = csv_column(windows.header(), "session_id");
    if (column < 0) throw DataError(windows.path(), 1, "session_id", "missing required column 'session_id'");
    return column;
}

// One CSV record of `body` from `p`: its end (past the newline) and its text
// without the line end. A newline inside a quoted field does not end it
// (records as the parser reads them, csv_cursor.h).
const char* next_record(const char* p, const char* end, std::string_view& line, int64_t& newlines) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = nl != nullptr ? nl : end;
    newlines = nl != nullptr ? 1 : 0;
    if (std::memchr(p, '"', static_cast<size_t>(stop - p)) != nullptr) {
        csv::FieldCursor record(p, end);
        std::string_view value;
        for (bool done = false; !done;) record.next(value, done);
        const char* next = record.position();
        newlines = std::count(p, next, '\n');
        stop = next > p && next[-1] == '\n' ? next - 1 : next;
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

namespace {

// A run of consecutive lines with one session id, within one window.
struct Run {
    uint64_t hash = 0;
    int32_t rows = 0;
    int64_t begin = 0, end = 0, first_line = 0;
    std::string_view id;  // a view of the window's text (or of its quoted ids)
};

// One window's runs. Lines without an id are left to pass 2's parser; they do
// not break a run (as the whole-file scan never did). Its lines are counted
// from 0 here and numbered when committed: unchecked windows come with no
// line number.
struct WindowScan {
    WindowText text;  // a view of the file, until scanned
    int64_t offset = 0;
    int64_t rows = 0;
    int64_t newlines = 0;
    bool quoted = false;  // a quote somewhere in the text
    std::vector<Run> runs;
    std::deque<std::string> quoted_ids;  // ids unquoted out of the text (a deque: they never move)
};

// Thrown by a commit of unchecked windows that met a quote: they may have cut
// a quoted field, so the file is scanned again with checked windows.
struct QuotedText {};

// Lines are split with find_newline_or_quote, one pass over the bytes. A
// line that starts with the current run's id and a comma, without a quote
// up to its newline, is one more row of that run: its id is neither
// extracted nor hashed (the common case: MSSD's id is the first column and a
// session has about 20 lines). Any other line takes the quote-aware path.
void scan_window(WindowScan& window, int64_t column) {
    const char* const base = window.text.body.data();
    const char* const end = base + window.text.body.size();
    const char* p = base;
    int64_t line_number = 0;
    std::string scratch;
    while (p < end) {
        if (column == 0 && !window.runs.empty()) {
            Run& run = window.runs.back();
            const size_t n = run.id.size();
            if (static_cast<size_t>(end - p) > n && p[n] == ',' && std::memcmp(p, run.id.data(), n) == 0) {
                const char* stop = find_newline_or_quote(p + n + 1, end);
                if (stop == end || *stop == '\n') {
                    const char* next = stop == end ? end : stop + 1;
                    line_number += stop == end ? 0 : 1;
                    ++window.rows;
                    ++run.rows;
                    run.end = window.offset + (next - base);
                    p = next;
                    continue;
                }
            }
        }
        std::string_view line, id;
        int64_t newlines = 0;
        const int64_t offset = window.offset + (p - base);
        const char* next = next_record(p, end, line, newlines);
        const int64_t number = line_number;
        line_number += newlines;
        p = next;
        window.quoted = window.quoted || std::memchr(line.data(), '"', line.size()) != nullptr;
        if (line.empty() || !id_of(line, column, scratch, id) || id.empty()) continue;
        ++window.rows;
        if (window.runs.empty() || !same_text(id, window.runs.back().id)) {
            // An id unquoted into scratch is kept apart: scratch is reused.
            if (id.data() == scratch.data()) id = window.quoted_ids.emplace_back(id);
            window.runs.push_back({session_hash(id), 0, offset, offset, number, id});
        }
        Run& run = window.runs.back();
        ++run.rows;
        run.end = window.offset + (next - base);
    }
    window.newlines = line_number;
}

// The scan through windows that end as `ends` says: unchecked ones throw
// QuotedText at the first window holding a quote.
FileScan scan_windows(const std::string& path, double sample_fraction, uint64_t keep_ids_at_most, int64_t window_bytes,
                      int threads, WindowEnds ends) {
    CsvWindows windows(path, std::max<int64_t>(window_bytes / threads, 1), ends);
    const int64_t column = session_id_column(windows);
    FileScan scan;
    scan.path = path;
    scan.disk_bytes = windows.disk_bytes();
    const auto body_begin = static_cast<int64_t>(windows.header().size());
    int64_t next_line = 1 + windows.header_lines();  // file line of the next window's first byte
    scan.line_marks.push_back({body_begin, next_line});
    int64_t next_mark = body_begin + FileScan::kLineMarkBytes;
    // Windows are scanned in parallel (ordered_jobs.h) and their runs merged in file order.
    HashIndex<int32_t> index_of;  // hash -> index in scan.sessions
    std::string previous;  // the last merged run's id
    int32_t current = -1;  // index of the last merged run's session; -1: not kept
    const auto take = [&]() -> std::optional<WindowScan> {
        if (!windows.next()) return std::nullopt;
        WindowScan window;
        window.offset = windows.body_offset();
        window.text = windows.take(windows.body().size());
        return window;
    };
    const auto work = [&](WindowScan& window) { scan_window(window, column); };
    const auto commit = [&](WindowScan& window) {
        if (window.quoted && ends == WindowEnds::unchecked) throw QuotedText{};
        scan.quoted = scan.quoted || window.quoted;
        scan.rows += window.rows;
        const int64_t first_line = next_line;
        next_line += window.newlines;
        for (size_t r = 0; r < window.runs.size(); ++r) {
            Run& run = window.runs[r];
            run.first_line += first_line;
            // A session running on from the window before: the same session, not a second run of it.
            const bool continues = r == 0 && !previous.empty() && run.id == previous;
            if (!continues) {
                if (run.begin >= next_mark) {
                    scan.line_marks.push_back({run.begin, run.first_line});
                    next_mark = run.begin + FileScan::kLineMarkBytes;
                }
                current = -1;
                if (keep_sampled_session(run.hash, sample_fraction)) {
                    const auto [index, added] = index_of.try_emplace(run.hash, static_cast<int32_t>(scan.sessions.size()));
                    current = index;
                    if (added) {
                        scan.sessions.push_back({run.hash, 0, run.begin, run.begin, run.first_line});
                        scan.ids.emplace_back(run.hash <= keep_ids_at_most ? std::string(run.id) : std::string());
                    } else {
                        scan.contiguous = false;
                    }
                }
            }
            if (r + 1 == window.runs.size()) previous.assign(run.id);
            if (current < 0) continue;
            ScannedSession& session = scan.sessions[static_cast<size_t>(current)];
            session.rows += run.rows;
            session.end = run.end;
        }
        // The window's pages go back now (csv_windows.h), not when the next job reuses this one.
        window = WindowScan();
    };
    run_ordered_jobs(threads, take, work, commit);
    return scan;
}

}  // namespace

FileScan scan_session_file(const std::string& path, double sample_fraction, uint64_t keep_ids_at_most,
                           int64_t window_bytes, int threads) {
    if (threads <= 0) threads = omp_get_max_threads();
    // Unchecked windows first: no serial pass over each window before its
    // worker's. A quote anywhere sends the file to checked windows, again.
    try {
        return scan_windows(path, sample_fraction, keep_ids_at_most, window_bytes, threads, WindowEnds::unchecked);
    } catch (const QuotedText&) {
        return scan_windows(path, sample_fraction, keep_ids_at_most, window_bytes, threads, WindowEnds::checked);
    }
}

int64_t line_at(const std::vector<LineMark>& marks, const CsvWindows& windows, int64_t offset) {
    const auto after = std::upper_bound(marks.begin(), marks.end(), offset,
                                        [](int64_t o, const LineMark& mark) { return o < mark.offset; });
    if (after == marks.begin()) throw std::logic_error(windows.path() + ": no line mark before offset " + std::to_string(offset));
    const LineMark& mark = *(after - 1);
    return mark.line + windows.newlines_between(mark.offset, offset);
}

size_t last_session_start(std::string_view body, int64_t column, Quotes quotes) {
    std::string scratch, last;
    std::string_view line, id;
    int64_t newlines = 0;
    if (quotes == Quotes::possible && std::memchr(body.data(), '"', body.size()) != nullptr) {
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
