// The track table read in shares, as the ranks of a data-parallel job read it
// (trainer/data_parallel.h: track_store_over_ranks): each share parses its
// windows, and the packed shares assemble the table of one whole read, byte
// for byte, whatever the number of shares and the window size; a track id
// repeated across shares is handled as one read handles it across windows.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
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

// Every share of `parts` read and packed, then assembled.
TrackStore assembled(const std::vector<std::string>& paths, int64_t parts, int64_t window, const ReadOptions& options,
                     ReadReport* report = nullptr) {
    return TrackStore::assemble(
        parts, [&](int64_t part) { return TrackStore(paths, options, report, window, {part, parts}).pack(); }, options,
        report);
}

void expect_same_table(const TrackStore& got, const TrackStore& want, const std::vector<TrackTable>& files,
                       const std::string& what) {
    ASSERT_EQ(got.rows(), want.rows()) << what;
    EXPECT_EQ(got.values().to_vector<float>(), want.values().to_vector<float>()) << what;
    EXPECT_EQ(got.standardiser().mean, want.standardiser().mean) << what;
    EXPECT_EQ(got.standardiser().inverse_sd, want.standardiser().inverse_sd) << what;
    EXPECT_EQ(got.sources(), want.sources()) << what;
    for (const auto& file : files)
        for (const auto& id : file.track_ids) ASSERT_EQ(got.find(id), want.find(id)) << what << ": " << id;
    EXPECT_EQ(got.find("t_not_a_track"), -1);
}

TEST(TrackShare, SharesAssembleTheWholeReadsTable) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    ASSERT_EQ(layout.track_paths.size(), 2u);
    std::vector<TrackTable> files;
    for (const auto& path : layout.track_paths) files.push_back(read_track_features(path));
    for (const int64_t window : {int64_t{4096}, int64_t{16} << 20}) {
        const TrackStore whole(layout.track_paths, {}, nullptr, window);
        for (const int64_t parts : {1, 2, 3, 5}) {
            const std::string what = std::to_string(parts) + " shares, windows of " + std::to_string(window);
            expect_same_table(assembled(layout.track_paths, parts, window, {}), whole, files, what);
            // A share holds about its part of the rows, and not the others'.
            const TrackStore first(layout.track_paths, {}, nullptr, window, {0, parts});
            if (window == 4096 && parts > 1) {
                EXPECT_LT(first.rows(), whole.rows()) << what;
            }
        }
    }
}

TEST(TrackShare, SharesOfRanksWithDifferentThreadCountsStillAssembleTheWholeTable) {
    // Ranks on different machines may run different thread counts: which windows are a share's must not
    // depend on them, or shares would overlap or leave lines out.
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    std::vector<TrackTable> files;
    for (const auto& path : layout.track_paths) files.push_back(read_track_features(path));
    const TrackStore whole(layout.track_paths, {}, nullptr, 4096);
    for (const int64_t parts : {2, 3}) {
        const TrackStore store = TrackStore::assemble(
            parts,
            [&](int64_t part) {
                ReadOptions options;
                options.num_threads = static_cast<int>(1 + 2 * part);  // 1, 3, 5 threads
                return TrackStore(layout.track_paths, options, nullptr, 4096, {part, parts}).pack();
            },
            {}, nullptr);
        expect_same_table(store, whole, files, std::to_string(parts) + " shares, 1-5 threads");
    }
}

// The second file lists again an id of the first file's last window, and
// the second file repeats an id of its own in another window.
TEST(TrackShare, RepeatsAcrossSharesAreHandledAsInOneRead) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    const std::string first_text = test::read_text(layout.track_paths[0]);
    const std::string second_text = test::read_text(layout.track_paths[1]);
    const std::string last_line_of_first =
        first_text.substr(first_text.rfind('\n', first_text.size() - 2) + 1);
    const std::string first_line_of_second =
        second_text.substr(second_text.find('\n') + 1, second_text.find('\n', second_text.find('\n') + 1) - second_text.find('\n'));
    const std::string across = dir.file("across.csv");
    std::ofstream(across, std::ios::binary) << second_text << last_line_of_first;
    const std::string within = dir.file("within.csv");
    std::ofstream(within, std::ios::binary) << second_text << first_line_of_second;

    const auto message = [](const std::function<void()>& read) {
        try {
            read();
        } catch (const DataError& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    const std::vector<std::string> spanning = {layout.track_paths[0], across};
    const std::string want_spanning = message([&] { TrackStore(spanning, {}, nullptr, 4096); });
    EXPECT_NE(want_spanning.find("is also listed in " + layout.track_paths[0]), std::string::npos) << want_spanning;
    const std::vector<std::string> repeating = {layout.track_paths[0], within};
    const std::string want_repeat = message([&] { TrackStore(repeating, {}, nullptr, 4096); });
    EXPECT_NE(want_repeat.find("again, expected each track id once"), std::string::npos) << want_repeat;
    for (const int64_t parts : {2, 3}) {
        EXPECT_EQ(message([&] { assembled(spanning, parts, 4096, {}); }), want_spanning) << parts << " shares";
        EXPECT_EQ(message([&] { assembled(repeating, parts, 4096, {}); }), want_repeat) << parts << " shares";
        // Skipped under on_bad_row=skip: the same table, the repeat counted once.
        ReadOptions skip;
        skip.on_bad_row = OnBadRow::skip;
        ReadReport want_report, got_report;
        const TrackStore whole(repeating, skip, &want_report, 4096);
        const TrackStore shares = assembled(repeating, parts, 4096, skip, &got_report);
        std::vector<TrackTable> files = {read_track_features(layout.track_paths[0])};
        expect_same_table(shares, whole, files, std::to_string(parts) + " shares, skipping");
        EXPECT_EQ(got_report.rows_skipped, want_report.rows_skipped);
        EXPECT_EQ(want_report.rows_skipped, 1);
        EXPECT_EQ(got_report.rows_read, want_report.rows_read);
    }
}

TEST(TrackShare, RefusesAMalformedShare) {
    const TempDir dir;
    const GeneratedLayout layout = layout_in(dir);
    std::vector<uint8_t> packed = TrackStore(layout.track_paths, {}, nullptr).pack();
    packed.resize(packed.size() / 2);
    EXPECT_THROW(TrackStore::assemble(1, [&](int64_t) { return packed; }, {}, nullptr), Error);
}

}  // namespace
}  // namespace skipper::data
