// The track table read in windows, several at once (ordered_jobs.h): the same
// table as one whole read whatever the window size and thread count, and a
// repeated id is found across windows and files, with the right file named.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../tools/tools_test_util.h"
#include "engine/error.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"
#include "trainer/data/track_store.h"

namespace skipper::data {
namespace {

using test::TempDir;

GeneratedLayout layout_in(const TempDir& dir) {
    GeneratorOptions options;
    options.sessions = 300;
    options.seed = 5;
    return write_generated_layout(options, dir.file("mssd"), 2, false);
}

ReadOptions on_threads(int threads) {
    ReadOptions options;
    options.num_threads = threads;
    return options;
}

TEST(TrackStore, WindowsAndThreadsGiveTheWholeReadsTable) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    ASSERT_EQ(layout.track_paths.size(), 2u);
    std::vector<TrackTable> whole;
    for (const auto& path : layout.track_paths) whole.push_back(read_track_features(path));
    const auto columns = static_cast<size_t>(track_feature_columns().size());
    for (const int threads : {1, 2, 3}) {
        for (const int64_t window : {int64_t{4096}, int64_t{16} << 20}) {
            const TrackStore store(layout.track_paths, on_threads(threads), nullptr, window);
            std::vector<float> want;
            int64_t rows = 0;
            for (const auto& part : whole) {
                const auto v = part.values.to_vector<float>();
                want.insert(want.end(), v.begin(), v.end());
                for (int64_t r = 0; r < part.rows(); ++r)
                    ASSERT_EQ(store.find(part.track_ids[static_cast<size_t>(r)]), rows + r) << "threads " << threads << " window " << window;
                rows += part.rows();
            }
            ASSERT_EQ(store.rows(), rows);
            ASSERT_EQ(store.values().to_vector<float>(), want) << "threads " << threads << " window " << window;
            EXPECT_EQ(store.find("t_not_a_track"), -1);
            EXPECT_EQ(want.size(), static_cast<size_t>(rows) * columns);
        }
    }
}

TEST(TrackStore, ARepeatedIdAcrossWindowsOrFilesIsNamed) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    const std::string first = test::read_text(layout.track_paths[0]);
    const std::string header = first.substr(0, first.find('\n') + 1);
    const std::string line = first.substr(header.size(), first.find('\n', header.size()) + 1 - header.size());
    // The first file's first track again at the end of the second file.
    const std::string second_path = dir.file("tf_second.csv");
    {
        std::ofstream out(second_path, std::ios::binary);
        out << test::read_text(layout.track_paths[1]) << line;
    }
    for (const int threads : {1, 2}) {
        try {
            const TrackStore store({layout.track_paths[0], second_path}, on_threads(threads), nullptr, 4096);
            ADD_FAILURE() << "no error";
        } catch (const DataError& e) {
            EXPECT_EQ(e.file(), second_path) << e.what();
            EXPECT_NE(std::string(e.what()).find("is also listed in " + layout.track_paths[0]), std::string::npos) << e.what();
        }
    }
    // Within one file, in a later window than its first row: refused, or skipped and counted.
    const std::string repeated = dir.file("tf_repeated.csv");
    {
        std::ofstream out(repeated, std::ios::binary);
        out << first << line;
    }
    for (const int threads : {1, 2}) {
        EXPECT_THROW(TrackStore({repeated}, on_threads(threads), nullptr, 4096), DataError);
        ReadOptions skip = on_threads(threads);
        skip.on_bad_row = OnBadRow::skip;
        ReadReport report;
        const TrackStore store({repeated}, skip, &report, 4096);
        EXPECT_EQ(report.rows_skipped, 1);
        EXPECT_EQ(store.rows(), read_track_features(layout.track_paths[0]).rows());
        EXPECT_EQ(report.rows_read, store.rows());
    }
}

// The rows of each file read whole, in file order, against the table: the
// same row for every id, the same values bit for bit (NaN for a missing value).
void expect_whole_reads(const TrackStore& store, const std::vector<std::string>& paths, const std::string& what) {
    std::vector<float> want;
    int64_t rows = 0;
    for (const auto& path : paths) {
        const std::string text = test::read_text(path);
        if (text.find('\n') + 1 == text.size()) continue;  // a header alone: no rows (a whole read refuses it)
        const TrackTable part = read_track_features(path);
        const auto v = part.values.to_vector<float>();
        want.insert(want.end(), v.begin(), v.end());
        for (int64_t r = 0; r < part.rows(); ++r)
            ASSERT_EQ(store.find(part.track_ids[static_cast<size_t>(r)]), rows + r) << what << ", " << path;
        rows += part.rows();
    }
    ASSERT_EQ(store.rows(), rows) << what;
    const auto got = store.values().to_vector<float>();
    ASSERT_EQ(got.size(), want.size()) << what;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << what;
    EXPECT_EQ(store.find("t_not_a_track"), -1) << what;
}

// The table is sized from its first window's bytes per line, not counted:
// files whose lines do not fit that estimate, or whose rows are not their
// lines, read as their whole reads do, in windows, on threads and in shares.
TEST(TrackStore, SizedFromItsFirstWindowWhateverTheFilesHold) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    const std::string text = test::read_text(layout.track_paths[0]);
    const std::string header = text.substr(0, text.find('\n') + 1);
    std::vector<std::string> lines;
    for (size_t at = header.size(); at < text.size();) {
        const size_t end = text.find('\n', at) + 1;
        lines.push_back(text.substr(at, end - at));
        at = end;
    }
    ASSERT_GT(lines.size(), 200u);
    const auto write = [&](const std::string& name, const std::string& body) {
        const std::string path = dir.file(name);
        std::ofstream(path, std::ios::binary) << header << body;
        return path;
    };
    // Each of these files holds its own tracks (t_<file>_<row>), all a row's
    // numbers long (29 digits) or missing: its lines are 900 or 60 bytes.
    const auto row = [&](const std::string& file, size_t r, bool long_values) {
        std::string line = "t_" + file + "_" + std::to_string(r);
        for (const auto& column : track_feature_columns())
            line += column == "mode" ? ",major" : long_values ? ",1.0000000000000000000000000001" : ",";
        return line + "\n";
    };
    std::string body;
    // Long lines first, then short: the first window's estimate falls short, and the table grows.
    for (size_t r = 0; r < 3000; ++r) body += row("grows", r, r < 40);
    const std::string grows = write("grows.csv", body);
    body.clear();
    // Blank lines (LF and CRLF) between rows: the rows start before their lines do.
    for (size_t r = 0; r < 60; ++r) body += (r % 3 == 0 ? "\n" : r % 3 == 1 ? "\r\n" : "") + lines[r];
    const std::string blanks = write("blanks.csv", body);
    const std::string one_row = write("one_row.csv", lines[60]);
    body.clear();
    for (size_t r = 61; r < 200; ++r) body += lines[r];
    body.pop_back();  // no line end after the last row
    const std::string unterminated = write("unterminated.csv", body);
    const std::string no_rows = write("no_rows.csv", "");
    body.clear();
    for (size_t r = 200; r < lines.size(); ++r) body += lines[r];
    const std::string rest = write("rest.csv", body);
    // A .gz file's text is guessed from its disk size: these short rows compress far better than that guess.
    const std::string gz = dir.file("short_rows.csv.gz");
    body.clear();
    for (size_t r = 0; r < 2000; ++r) body += row("gz", r, false);
    test::gzip_file(write("short_rows.csv", body), gz);

    const std::vector<std::vector<std::string>> cases = {
        {grows}, {blanks}, {one_row}, {unterminated}, {one_row, no_rows, blanks, unterminated, rest},
        {unterminated, grows, one_row}, {gz}, {one_row, gz, rest}};
    for (const auto& paths : cases) {
        std::string what;
        for (const auto& path : paths) what += path.substr(path.rfind('/') + 1) + " ";
        for (const int threads : {1, 2, 3})
            for (const int64_t window : {int64_t{4096}, int64_t{16} << 20}) {
                const std::string where = what + "threads " + std::to_string(threads) + " window " + std::to_string(window);
                expect_whole_reads(TrackStore(paths, on_threads(threads), nullptr, window), paths, where);
            }
        for (const int64_t parts : {2, 3}) {
            const TrackStore store = TrackStore::assemble(
                parts, [&](int64_t part) { return TrackStore(paths, on_threads(2), nullptr, 4096, {part, parts}).pack(); },
                {}, nullptr);
            expect_whole_reads(store, paths, what + std::to_string(parts) + " shares");
        }
    }
}

// Blank lines and refused rows before a window's rows move them forward: the
// table still holds every kept row once, in file order.
TEST(TrackStore, RowsAfterDroppedRowsMoveForward) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    const std::string text = test::read_text(layout.track_paths[0]);
    const std::string header = text.substr(0, text.find('\n') + 1);
    const std::string first_row = text.substr(header.size(), text.find('\n', header.size()) + 1 - header.size());
    // A bad value and a repeated id early in the file, blank lines in the middle.
    const size_t duration = first_row.find(',') + 1;
    const std::string bad = first_row.substr(0, duration) + "oops" + first_row.substr(first_row.find(',', duration));
    const std::string body = text.substr(header.size());
    const size_t middle = body.find('\n', body.size() / 2) + 1;
    const std::string path = dir.file("dropped.csv");
    std::ofstream(path, std::ios::binary) << header << bad << body.substr(0, middle) << first_row << "\n\n\n"
                                          << body.substr(middle);
    for (const int threads : {1, 2}) {
        ReadOptions skip = on_threads(threads);
        skip.on_bad_row = OnBadRow::skip;
        ReadReport report;
        const TrackStore store({path}, skip, &report, 4096);
        EXPECT_EQ(report.rows_skipped, 2) << threads << " threads";
        expect_whole_reads(store, {layout.track_paths[0]}, std::to_string(threads) + " threads");
    }
}

}  // namespace
}  // namespace skipper::data
