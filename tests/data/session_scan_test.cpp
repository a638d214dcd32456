// Pass 1's session-id scan, windows scanned in parallel and merged in file
// order: the same sessions, rows, byte ranges, first lines, kept ids and
// contiguity as a plain line-by-line account, at every window size and
// thread count, for a file that keeps its sessions together and one that
// does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../tools/tools_test_util.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/generator.h"
#include "trainer/data/layout.h"
#include "trainer/data/session_scan.h"

namespace skipper::data {
namespace {

using test::TempDir;

// The plain account: the id is the first field of each line.
FileScan expected_scan(const std::string& text, uint64_t keep_ids_at_most) {
    FileScan scan;
    std::map<std::string, size_t> index;
    std::string last;
    size_t at = text.find('\n') + 1;
    for (int64_t line = 2; at < text.size(); ++line) {
        const size_t next = text.find('\n', at) + 1;
        const std::string id = text.substr(at, text.find(',', at) - at);
        ++scan.rows;
        const auto [it, added] = index.try_emplace(id, scan.sessions.size());
        if (added) {
            const uint64_t hash = session_hash(id);
            scan.sessions.push_back({hash, 0, static_cast<int64_t>(at), 0, line});
            scan.ids.push_back(hash <= keep_ids_at_most ? id : std::string());
        } else if (id != last) {
            scan.contiguous = false;
        }
        ScannedSession& session = scan.sessions[it->second];
        ++session.rows;
        session.end = static_cast<int64_t>(next);
        last = id;
        at = next;
    }
    return scan;
}

void expect_same(const FileScan& got, const FileScan& want, const std::string& what) {
    EXPECT_EQ(got.rows, want.rows) << what;
    EXPECT_EQ(got.contiguous, want.contiguous) << what;
    ASSERT_EQ(got.sessions.size(), want.sessions.size()) << what;
    for (size_t s = 0; s < want.sessions.size(); ++s) {
        const ScannedSession &a = got.sessions[s], &b = want.sessions[s];
        ASSERT_EQ(a.hash, b.hash) << what << " session " << s;
        ASSERT_EQ(a.rows, b.rows) << what << " session " << s;
        ASSERT_EQ(a.begin, b.begin) << what << " session " << s;
        ASSERT_EQ(a.end, b.end) << what << " session " << s;
        ASSERT_EQ(a.first_line, b.first_line) << what << " session " << s;
    }
    EXPECT_EQ(got.ids, want.ids) << what;
}

// The log file of a generated layout of `sessions` sessions (one file).
std::string generated_log(const TempDir& dir, int64_t sessions, uint64_t seed) {
    GeneratorOptions options;
    options.sessions = sessions;
    options.seed = seed;
    return write_generated_layout(options, dir.file("mssd"), 1, false).log_paths[0];
}

TEST(SessionScan, ParallelWindowsGiveThePlainAccount) {
    const TempDir dir;
    const std::string log_path = generated_log(dir, 200, 4);
    const std::string text = test::read_text(log_path);
    // The same lines with every second line moved to the end: sessions split in two runs.
    std::string split = text.substr(0, text.find('\n') + 1), moved;
    size_t at = split.size();
    for (int i = 0; at < text.size(); ++i) {
        const size_t next = text.find('\n', at) + 1;
        (i % 2 == 0 ? split : moved) += text.substr(at, next - at);
        at = next;
    }
    split += moved;
    const std::string split_path = dir.file("split.csv");
    std::ofstream(split_path, std::ios::binary) << split;

    const uint64_t keep = uint64_t{1} << 62;  // about a quarter of the ids kept
    for (const auto& [path, file_text] : {std::pair{log_path, text}, std::pair{split_path, split}}) {
        const FileScan want = expected_scan(file_text, keep);
        EXPECT_EQ(want.contiguous, path != split_path);
        for (const int threads : {1, 2, 3})
            for (const int64_t window : {int64_t{300}, int64_t{4096}, int64_t{1} << 24})
                expect_same(scan_session_file(path, 1.0, keep, window, threads), want,
                            path + " threads " + std::to_string(threads) + " window " + std::to_string(window));
    }
}

// Lines pass 1 steps over without extracting the id (the line starts with the
// current id and a comma, no quote before its newline) and lines it must
// take apart: a quote later in the line (with a newline inside), the id
// quoted, CRLF, a line without an id, an id that the current one is a prefix
// of, a blank line and a last line without a newline. Every window size and
// thread count gives the same account, worked out by hand.
TEST(SessionScan, FastLinesAndQuotedLinesAgree) {
    const TempDir dir;
    const std::string text =
        "session_id,x\r\n"
        "s1,a\r\n"
        "s1,\"b\nc\"\r\n"
        "\"s1\",d\r\n"
        "s1,e\n"
        ",no id\n"
        "s10,f\n"
        "\n"
        "s10,g\n"
        "s2,h";
    const std::string path = dir.file("edge.csv");
    std::ofstream(path, std::ios::binary) << text;
    FileScan want;
    want.rows = 7;
    const auto at = [&](const char* line) { return static_cast<int64_t>(text.find(line)); };
    const auto after = [&](const char* line) { return at(line) + static_cast<int64_t>(std::string(line).size()); };
    want.sessions = {{session_hash("s1"), 4, at("s1,a"), after("s1,e\n"), 2},
                     {session_hash("s10"), 2, at("s10,f"), after("s10,g\n"), 8},
                     {session_hash("s2"), 1, at("s2,h"), static_cast<int64_t>(text.size()), 11}};
    want.ids = {"s1", "s10", "s2"};
    for (const int threads : {1, 2})
        for (int64_t window = 1; window <= static_cast<int64_t>(text.size()) + 1; ++window)
            expect_same(scan_session_file(path, 1.0, ~uint64_t{0}, window, threads), want,
                        "threads " + std::to_string(threads) + " window " + std::to_string(window));
}

// A quote inside an unquoted field is text, as the parser reads it: it opens
// nothing, and the quoted field after it still holds its newline. Quote
// parity would have run the first lines together.
TEST(SessionScan, AStrayQuoteIsText) {
    const TempDir dir;
    const std::string text =
        "session_id,x\n"
        "s1,a\"b\n"
        "s1,\"c\nd\"\n"
        "s2,e\"\n"
        "s2,f\n";
    const std::string path = dir.file("stray.csv");
    std::ofstream(path, std::ios::binary) << text;
    FileScan want;
    want.rows = 4;
    const auto at = [&](const char* line) { return static_cast<int64_t>(text.find(line)); };
    want.sessions = {{session_hash("s1"), 2, at("s1,a"), at("s2,e"), 2},
                     {session_hash("s2"), 2, at("s2,e"), static_cast<int64_t>(text.size()), 5}};
    want.ids = {"s1", "s2"};
    for (const int threads : {1, 2})
        for (int64_t window = 1; window <= static_cast<int64_t>(text.size()) + 1; ++window)
            expect_same(scan_session_file(path, 1.0, ~uint64_t{0}, window, threads), want,
                        "threads " + std::to_string(threads) + " window " + std::to_string(window));
}

// The line marks of a file of a few MB: the body's first line, then line
// starts at least kLineMarkBytes apart and at most a session beyond, each
// with its line; line_at gives every line start's line from them, as a count
// from the top does. A quote in the file is reported (and the account kept).
TEST(SessionScan, LineMarksNumberEveryLineStart) {
    const TempDir dir;
    const std::string path = generated_log(dir, 16000, 9);
    const std::string text = test::read_text(path);
    ASSERT_GT(text.size(), size_t{5} << 20 >> 1);
    const FileScan want = expected_scan(text, 0);
    for (const int threads : {1, 2}) {
        const FileScan scan = scan_session_file(path, 1.0, 0, int64_t{1} << 20, threads);
        expect_same(scan, want, "threads " + std::to_string(threads));
        EXPECT_FALSE(scan.quoted);
        ASSERT_GE(scan.line_marks.size(), 3u);
        EXPECT_EQ(scan.line_marks.front().offset, static_cast<int64_t>(text.find('\n') + 1));
        EXPECT_EQ(scan.line_marks.front().line, 2);
        for (size_t m = 0; m < scan.line_marks.size(); ++m) {
            const LineMark& mark = scan.line_marks[m];
            ASSERT_EQ(text[static_cast<size_t>(mark.offset) - 1], '\n');
            ASSERT_EQ(mark.line, 1 + std::count(text.begin(), text.begin() + mark.offset, '\n')) << "mark " << m;
            if (m > 0) {
                ASSERT_GE(mark.offset - scan.line_marks[m - 1].offset, FileScan::kLineMarkBytes);
            }
        }
        const CsvWindows windows(path, 1 << 16, WindowEnds::unchecked);
        int64_t line = 2;
        for (size_t at = text.find('\n') + 1; at < text.size(); at = text.find('\n', at) + 1, ++line)
            if (line % 97 == 0) {
                ASSERT_EQ(line_at(scan.line_marks, windows, static_cast<int64_t>(at)), line) << "offset " << at;
            }
    }
    // One quote far into the file: the unchecked scan meets it and the file is scanned again, checked.
    std::string quoted = text;
    const size_t far = quoted.find(',', quoted.size() * 3 / 4);
    quoted.insert(far + 1, "\"q\"");
    const std::string quoted_path = dir.file("quoted.csv");
    std::ofstream(quoted_path, std::ios::binary) << quoted;
    const FileScan scan = scan_session_file(quoted_path, 1.0, 0, int64_t{1} << 20, 2);
    EXPECT_TRUE(scan.quoted);
    EXPECT_EQ(scan.rows, want.rows);
    EXPECT_EQ(scan.sessions.size(), want.sessions.size());
}

// Where pass 2 cuts a window: the start of its last session, found by
// stepping back from the end (a body known to hold no quotes) or by walking
// forward (one that may), at every line end of a generated file's first
// sessions, against the plain account. A body of one session gives 0.
TEST(SessionScan, LastSessionStartStepsBackToTheLastSession) {
    const TempDir dir;
    const std::string text = test::read_text(generated_log(dir, 40, 2));
    const std::string body = text.substr(text.find('\n') + 1);
    std::vector<size_t> starts;  // line starts of the body
    for (size_t at = 0; at < body.size(); at = body.find('\n', at) + 1) starts.push_back(at);
    const auto id_at = [&](size_t at) { return body.substr(at, body.find(',', at) - at); };
    for (size_t end_line = 1; end_line <= starts.size(); ++end_line) {
        const size_t end = end_line < starts.size() ? starts[end_line] : body.size();
        size_t want = starts[end_line - 1];
        for (size_t l = end_line - 1; l > 0 && id_at(starts[l - 1]) == id_at(starts[end_line - 1]); --l) want = starts[l - 1];
        const std::string_view window(body.data(), end);
        ASSERT_EQ(last_session_start(window, 0, Quotes::none), want) << "end line " << end_line;
        ASSERT_EQ(last_session_start(window, 0, Quotes::possible), want) << "end line " << end_line;
    }
}

}  // namespace
}  // namespace skipper::data
