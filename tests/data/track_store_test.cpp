// The track table read in windows, several at once (ordered_jobs.h): the same
// table as one whole read whatever the window size and thread count, and a
// repeated id is found across windows and files, with the right file named.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace skipper::data
