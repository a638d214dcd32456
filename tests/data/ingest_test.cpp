// The streamed session-task rows and their cache: one file or many, CSV or
// cache, give the same model bytes; a stale, truncated or corrupt cache is
// refused with a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>

#include "../tools/tools_test_util.h"
#include "engine/error.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/ingest.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"
#include "trainer/gbdt/gbdt.h"

namespace skipper::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

GeneratorOptions small() {
    GeneratorOptions options;
    options.sessions = 600;
    options.seed = 9;
    return options;
}

// The same sessions in one file, in the order the many files hold them.
std::string concatenate(const std::vector<std::string>& files, const std::string& to) {
    std::ofstream out(to, std::ios::binary);
    for (size_t i = 0; i < files.size(); ++i) {
        const std::string text = test::read_text(files[i]);
        out << (i == 0 ? text : text.substr(text.find('\n') + 1));
    }
    return to;
}

GbdtParams few_trees() {
    GbdtParams params;
    params.num_iterations = 8;
    params.min_data_in_leaf = 5;
    params.bagging_fraction = 0.7;  // per-row draws: they must follow the rows' keys
    params.bagging_freq = 1;
    params.num_threads = 2;
    return params;
}

IngestOptions small_sample() {
    IngestOptions options;
    options.bin_construct_sample_cnt = 1500;  // a sample smaller than the data: it must be chosen the same way
    return options;
}

std::vector<uint8_t> model_bytes(const SessionRowIngest& data) {
    return train_gbdt(data.train, &data.test, few_trees()).to_bytes();
}

class StreamedRows : public ::testing::Test {
protected:
    void SetUp() override { layout_ = write_generated_layout(small(), dir_.file("mssd"), 6, false); }
    TempDir dir_;
    GeneratedLayout layout_;
};

TEST_F(StreamedRows, MatchTheInMemoryBuilderRowForRow) {
    const SessionRowIngest streamed = ingest_session_rows(layout_.log_paths, layout_.track_paths, small_sample());
    EXPECT_EQ(streamed.sessions, layout_.sessions);
    EXPECT_EQ(streamed.log_rows, layout_.rows);
    const int64_t rows = streamed.train.rows() + streamed.test.rows();
    EXPECT_NEAR(static_cast<double>(streamed.test.rows()) / static_cast<double>(rows), 0.2, 0.05);
    // Every row equals the in-memory builder's row over all files, binned with the same edges.
    const MssdData whole = load_mssd_files(layout_.log_paths, layout_.track_paths, 1.0, {}, nullptr);
    const TabularDataset in_memory = build_session_rows(whole);
    ASSERT_EQ(in_memory.rows(), rows);
    const Tensor bins = gbdt::bin_rows(in_memory.features, streamed.train.feature_bins);
    const int64_t width = in_memory.num_features();
    std::map<uint64_t, int64_t> row_of_key;
    for (int64_t r = 0; r < rows; ++r) {
        const std::string& id = whole.log.session_ids[static_cast<size_t>(in_memory.session_index[static_cast<size_t>(r)])];
        row_of_key[session_row_key(session_hash(id), in_memory.position[static_cast<size_t>(r)])] = r;
    }
    for (const gbdt::BinnedDataset* part : {&streamed.train, &streamed.test}) {
        EXPECT_EQ(part->feature_names, in_memory.feature_names);
        for (int64_t r = 0; r < part->rows(); ++r) {
            const auto it = row_of_key.find(part->row_keys[static_cast<size_t>(r)]);
            ASSERT_NE(it, row_of_key.end());
            const int64_t m = it->second;
            ASSERT_EQ(part->position[static_cast<size_t>(r)], in_memory.position[static_cast<size_t>(m)]);
            ASSERT_EQ(part->labels.data<float>()[r], in_memory.labels.data<float>()[m]);
            ASSERT_EQ(0, std::memcmp(part->bins.data<uint8_t>() + r * width, bins.data<uint8_t>() + m * width,
                                     static_cast<size_t>(width)))
                << "row " << r;
        }
    }
}

TEST_F(StreamedRows, OneFileOrManyOrTheCacheGiveTheSameModelBytes) {
    const std::string one = concatenate(layout_.log_paths, dir_.file("log_all.csv"));
    const SessionRowIngest many = ingest_session_rows(layout_.log_paths, layout_.track_paths, small_sample());
    const SessionRowIngest single = ingest_session_rows({one}, layout_.track_paths, small_sample());
    ASSERT_EQ(many.train.rows(), single.train.rows());
    EXPECT_EQ(many.train.feature_bins, single.train.feature_bins);
    EXPECT_EQ(many.train.row_keys, single.train.row_keys);
    const auto bytes = model_bytes(many);
    EXPECT_EQ(bytes, model_bytes(single));

    DatasetCache cache;
    cache.data = many;
    save_dataset_cache(dir_.file("rows.cache"), cache);
    const DatasetCache loaded = load_dataset_cache(dir_.file("rows.cache"));
    EXPECT_EQ(loaded.data.train.feature_bins, many.train.feature_bins);
    EXPECT_EQ(bytes, model_bytes(loaded.data));
}

TEST_F(StreamedRows, SmallWindowsGiveTheSameRowsAndModel) {
    // Windows of a few kB cut every file (and the track files) many times, between sessions; one
    // window in the middle holds a single session only when grown. The rows, keys and model are the same.
    const SessionRowIngest whole = ingest_session_rows(layout_.log_paths, layout_.track_paths, small_sample());
    IngestOptions windowed_options = small_sample();
    windowed_options.window_bytes = 2000;  // about 12 lines: a long session fills a window alone
    const SessionRowIngest windowed = ingest_session_rows(layout_.log_paths, layout_.track_paths, windowed_options);
    EXPECT_GT(fs::file_size(layout_.log_paths[0]), 20u * 2000u);
    EXPECT_EQ(windowed.train.row_keys, whole.train.row_keys);
    EXPECT_EQ(windowed.test.row_keys, whole.test.row_keys);
    EXPECT_EQ(windowed.train.feature_bins, whole.train.feature_bins);
    EXPECT_EQ(windowed.train.bins.to_vector<uint8_t>(), whole.train.bins.to_vector<uint8_t>());
    EXPECT_EQ(model_bytes(windowed), model_bytes(whole));
}

TEST_F(StreamedRows, GzipFilesStreamInWindowsToTheSameModel) {
    // .csv.gz inflated as the windows advance (never whole): the rows, bins and model of the plain files,
    // with a bin sample smaller than the data (its sessions are read forward from their byte ranges).
    std::vector<std::string> logs, tracks;
    for (const auto& path : layout_.log_paths) {
        logs.push_back(dir_.file(fs::path(path).filename().string() + ".gz"));
        test::gzip_file(path, logs.back());
    }
    for (const auto& path : layout_.track_paths) {
        tracks.push_back(dir_.file(fs::path(path).filename().string() + ".gz"));
        test::gzip_file(path, tracks.back());
    }
    IngestOptions options = small_sample();
    options.window_bytes = 2000;
    const SessionRowIngest plain = ingest_session_rows(layout_.log_paths, layout_.track_paths, options);
    const SessionRowIngest packed = ingest_session_rows(logs, tracks, options);
    EXPECT_EQ(packed.train.row_keys, plain.train.row_keys);
    EXPECT_EQ(packed.test.row_keys, plain.test.row_keys);
    EXPECT_EQ(packed.train.feature_bins, plain.train.feature_bins);
    EXPECT_EQ(packed.train.bins.to_vector<uint8_t>(), plain.train.bins.to_vector<uint8_t>());
    EXPECT_EQ(model_bytes(packed), model_bytes(plain));

    // A truncated .gz is an error naming it, whichever window meets the cut.
    const std::string whole = test::read_text(logs[1]);
    std::ofstream(logs[1], std::ios::binary) << whole.substr(0, whole.size() * 2 / 3);
    try {
        ingest_session_rows(logs, tracks, options);
        FAIL() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.file(), logs[1]);
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

TEST_F(StreamedRows, ABadRowInALaterWindowNamesItsLineInTheFile) {
    // The windows are parsed apart (and pass 2's windows of a file without
    // quotes count no lines), but an error names the line in the whole file:
    // early, in a later window, and on the last line.
    const std::string path = layout_.log_paths[0];
    const std::string original = test::read_text(path);
    const auto lines = std::count(original.begin(), original.end(), '\n');
    for (const int64_t bad_line : {int64_t{40}, lines / 2 + 1, lines}) {
        std::string text = original;
        size_t at = 0;
        for (int64_t line = 1; line < bad_line; ++line) at = text.find('\n', at) + 1;
        const size_t comma = text.find(',', text.find(',', at) + 1);  // after session_id and session_position
        text.replace(at, comma - at, text.substr(at, text.find(',', at) - at) + ",x");
        std::ofstream(path, std::ios::binary) << text;
        for (const int64_t window_bytes : {int64_t{2000}, IngestOptions().window_bytes}) {
            IngestOptions options = small_sample();
            options.window_bytes = window_bytes;
            try {
                ingest_session_rows(layout_.log_paths, layout_.track_paths, options);
                FAIL() << "no error";
            } catch (const DataError& e) {
                EXPECT_EQ(e.file(), path);
                EXPECT_EQ(e.line(), bad_line) << "window_bytes " << window_bytes;
                EXPECT_EQ(e.column(), "session_position");
            }
        }
    }
}

TEST_F(StreamedRows, ASessionInTwoFilesNamesBoth) {
    // The last session of file 0 appended again to file 1: the scan finds it in both.
    const std::string first = test::read_text(layout_.log_paths[0]);
    size_t last_start = first.rfind('\n', first.size() - 2) + 1;
    const std::string id = first.substr(last_start, first.find(',', last_start) - last_start);
    while (last_start > 0) {
        const size_t previous = first.rfind('\n', last_start - 2) + 1;
        if (first.compare(previous, id.size() + 1, id + ",") != 0) break;
        last_start = previous;
    }
    std::ofstream(layout_.log_paths[1], std::ios::binary | std::ios::app) << first.substr(last_start);
    try {
        ingest_session_rows(layout_.log_paths, layout_.track_paths, small_sample());
        FAIL() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.file(), layout_.log_paths[1]);
        EXPECT_NE(std::string(e.what()).find(id), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(layout_.log_paths[0]), std::string::npos) << e.what();
    }
}

TEST_F(StreamedRows, ShardsSampleLikeTheWhole) {
    // The bin sample of all files equals the merge of the samples of two shards (as MPI ranks would take them).
    BinSample whole(1500), left(1500), right(1500);
    TrackTable tracks;
    for (const auto& path : layout_.track_paths) append_track_table(tracks, read_track_features(path));
    const auto add_file = [&](BinSample& sample, const std::string& path) {
        MssdData data = join_tracks(read_session_log(path), tracks);
        const TabularDataset rows = build_session_rows(data);
        const int64_t width = rows.num_features();
        const float* x = rows.features.data<float>();
        for (int64_t r = 0; r < rows.rows();) {
            int64_t end = r;
            while (end < rows.rows() && rows.session_index[static_cast<size_t>(end)] == rows.session_index[static_cast<size_t>(r)]) ++end;
            const std::string& id = data.log.session_ids[static_cast<size_t>(rows.session_index[static_cast<size_t>(r)])];
            sample.add(session_hash(id), id, std::vector<float>(x + r * width, x + end * width), width);
            r = end;
        }
    };
    for (size_t f = 0; f < layout_.log_paths.size(); ++f) {
        add_file(whole, layout_.log_paths[f]);
        add_file(f % 2 == 0 ? left : right, layout_.log_paths[f]);
    }
    left.merge(right);
    EXPECT_GE(whole.rows(), 1500);
    EXPECT_EQ(whole.matrix().to_vector<float>().size(), left.matrix().to_vector<float>().size());
    const auto a = whole.matrix().to_vector<float>(), b = left.matrix().to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) << i;
}

TEST_F(StreamedRows, StaleTruncatedAndCorruptCachesAreRefused) {
    DatasetCache cache;
    cache.data = ingest_session_rows(layout_.log_paths, layout_.track_paths, small_sample());
    const std::string path = dir_.file("rows.cache");
    save_dataset_cache(path, cache);
    const std::string bytes = test::read_text(path);
    const auto expect_refused = [&](const std::string& file, const std::string& why) {
        try {
            load_dataset_cache(file);
            FAIL() << "accepted a cache that is " << why;
        } catch (const DataError& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    for (size_t cut : {size_t{0}, size_t{10}, size_t{64}, size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
        std::ofstream(dir_.file("cut.cache"), std::ios::binary) << bytes.substr(0, cut);
        try {
            load_dataset_cache(dir_.file("cut.cache"));
            FAIL() << "accepted a cache cut to " << cut << " bytes";
        } catch (const DataError& e) {
            EXPECT_NE(std::string(e.what()).find("not a usable dataset cache"), std::string::npos) << e.what();
        }
    }
    // One flipped byte anywhere (header, table, metadata, bins, labels) is caught.
    for (size_t at : {size_t{3}, size_t{13}, size_t{70}, size_t{700}, bytes.size() / 3, bytes.size() - 100}) {
        std::string corrupt = bytes;
        corrupt[at] = static_cast<char>(corrupt[at] ^ 0x5A);
        std::ofstream(dir_.file("bad.cache"), std::ios::binary) << corrupt;
        try {
            load_dataset_cache(dir_.file("bad.cache"));
            FAIL() << "accepted a cache with byte " << at << " flipped";
        } catch (const DataError& e) {
            EXPECT_NE(std::string(e.what()).find("not a usable dataset cache"), std::string::npos) << e.what();
        }
    }
    // A source that changed after prepare makes the cache stale.
    std::ofstream(layout_.log_paths[2], std::ios::app) << "";
    fs::last_write_time(layout_.log_paths[2], fs::last_write_time(layout_.log_paths[2]) + std::chrono::seconds(5));
    expect_refused(path, "stale");
    EXPECT_NO_THROW(load_dataset_cache(path, false));
}

TEST_F(StreamedRows, PrepareThenTrainFromTheCacheMatchesTrainingFromTheFiles) {
    const std::string cache = dir_.file("rows.cache");
    auto result = test::run_skipper({"prepare", "data=" + dir_.file("mssd"), "task=session", "out=" + cache});
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.err.find("MB/s"), std::string::npos) << result.err;
    const std::vector<std::string> common = {"train", "gbdt", "task=session", "num_iterations=6", "min_data_in_leaf=5"};
    auto from_files = common, from_cache = common;
    from_files.insert(from_files.end(), {"data=" + dir_.file("mssd"), "output_model=" + dir_.file("files.bin")});
    from_cache.insert(from_cache.end(), {"dataset=" + cache, "output_model=" + dir_.file("cache.bin")});
    result = test::run_skipper(from_files);
    ASSERT_EQ(result.code, 0) << result.err;
    const std::string scores = result.out.substr(result.out.find('\n'));
    result = test::run_skipper(from_cache);
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out.substr(result.out.find('\n')).substr(0, 200), scores.substr(0, 200));
    EXPECT_EQ(test::read_text(dir_.file("files.bin")), test::read_text(dir_.file("cache.bin")));
    result = test::run_skipper({"eval", "model=" + dir_.file("cache.bin"), "dataset=" + cache});
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find("aa = "), std::string::npos) << result.out;
}

}  // namespace
}  // namespace skipper::data
