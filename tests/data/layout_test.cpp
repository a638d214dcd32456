// Finding an MSSD data set's files: the real release's folders, the flat mini
// sample, skipper gen's layouts, globs and comma lists, .csv.gz, files= and
// sample_sessions=, and a session split over two files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../tools/tools_test_util.h"
#include "engine/error.h"
#include "tools/data_source.h"
#include "trainer/data/generator.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"

namespace skipper::data {
namespace {

namespace fs = std::filesystem;
using test::gzip_file;
using test::TempDir;

// Same rows and sessions, in the same order.
void expect_same_log(const SessionLog& a, const SessionLog& b) {
    ASSERT_EQ(a.rows, b.rows);
    EXPECT_EQ(a.session_ids, b.session_ids);
    EXPECT_EQ(a.session_position.to_vector<int32_t>(), b.session_position.to_vector<int32_t>());
    EXPECT_EQ(a.skip_2.to_vector<uint8_t>(), b.skip_2.to_vector<uint8_t>());
    EXPECT_EQ(a.date.to_vector<int32_t>(), b.date.to_vector<int32_t>());
    const auto ta = a.track.to_vector<int32_t>(), tb = b.track.to_vector<int32_t>();
    for (int64_t i = 0; i < a.rows; ++i)
        ASSERT_EQ(a.track_ids[static_cast<size_t>(ta[static_cast<size_t>(i)])], b.track_ids[static_cast<size_t>(tb[static_cast<size_t>(i)])]);
}

GeneratorOptions small(int64_t sessions = 300) {
    GeneratorOptions options;
    options.sessions = sessions;
    options.seed = 5;
    return options;
}

TEST(Layout, RealReleaseLayoutIsFoundRecursively) {
    TempDir dir;
    const auto layout = write_generated_layout(small(), dir.file("mssd"), 12, true);
    const MssdFiles files = find_mssd_layout(dir.file("mssd"));
    EXPECT_EQ(files.logs, layout.log_paths);
    EXPECT_EQ(files.tracks, layout.track_paths);
    ASSERT_EQ(files.prehistory.size(), 1u);
    ASSERT_EQ(files.inputs.size(), 1u);
    EXPECT_EQ(files.prehistory[0], layout.prehistory_path);
    EXPECT_NE(files.logs[0].find("training_set/log_0_20180715_000000000000.csv"), std::string::npos);
    // The files, read in sorted order, are the generated sessions in order: the same as one file.
    const MssdData many = load_mssd_files(files.logs, files.tracks, 1.0, {}, nullptr);
    MssdData whole = generate_mssd(small());
    std::vector<uint8_t> train(static_cast<size_t>(whole.log.num_sessions()), 0);
    for (int64_t s = 0; s < layout.sessions; ++s) train[static_cast<size_t>(s)] = 1;
    keep_sessions(whole.log, train);
    expect_same_log(many.log, whole.log);
    EXPECT_EQ(many.tracks.rows(), whole.tracks.rows());
}

TEST(Layout, FlatMiniAndGeneratedLayouts) {
    TempDir dir;
    const auto generated = write_generated_mssd(small(), dir.file("gen"));
    const MssdFiles gen = find_mssd_layout(dir.file("gen"));
    EXPECT_EQ(gen.logs, std::vector<std::string>{generated.log_path});
    EXPECT_EQ(gen.tracks, std::vector<std::string>{generated.tracks_path});
    fs::create_directories(dir.file("mini"));
    fs::copy_file(generated.log_path, dir.file("mini/log_mini.csv"));
    fs::copy_file(generated.tracks_path, dir.file("mini/tf_mini.csv"));
    const MssdFiles mini = find_mssd_layout(dir.file("mini"));
    EXPECT_EQ(mini.logs, std::vector<std::string>{dir.file("mini/log_mini.csv")});
    EXPECT_EQ(mini.tracks, std::vector<std::string>{dir.file("mini/tf_mini.csv")});
    fs::create_directories(dir.file("empty/sub"));
    std::ofstream(dir.file("empty/sub/notes.csv")) << "a,b\n1,2\n";
    try {
        find_mssd_layout(dir.file("empty"));
        FAIL() << "a folder without MSSD files was accepted";
    } catch (const DataError& e) {
        EXPECT_NE(std::string(e.what()).find("notes.csv"), std::string::npos) << e.what();
    }
}

TEST(Layout, GzipReadsAsThePlainFile) {
    TempDir dir;
    const auto generated = write_generated_mssd(small(), dir.file("gen"));
    gzip_file(generated.log_path, dir.file("log_0.csv.gz"));
    gzip_file(generated.tracks_path, dir.file("tf_0.csv.gz"));
    const MssdData plain = load_mssd(generated.log_path, generated.tracks_path);
    const MssdData packed = load_mssd_files({dir.file("log_0.csv.gz")}, {dir.file("tf_0.csv.gz")}, 1.0, {}, nullptr);
    expect_same_log(plain.log, packed.log);
    EXPECT_EQ(plain.tracks.values.to_vector<float>(), packed.tracks.values.to_vector<float>());
    // A truncated gzip file is a DataError naming it, never a short read.
    const std::string whole = test::read_text(dir.file("log_0.csv.gz"));
    std::ofstream(dir.file("cut.csv.gz"), std::ios::binary) << whole.substr(0, whole.size() / 3);
    EXPECT_THROW(read_session_log(dir.file("cut.csv.gz")), DataError);
}

TEST(Layout, GlobsCommaListsAndFileSelection) {
    TempDir dir;
    const auto layout = write_generated_layout(small(), dir.file("mssd"), 4, false);
    const std::string logs = dir.file("mssd/training_set/log_*.csv");
    EXPECT_EQ(expand_paths(logs, "log"), layout.log_paths);
    EXPECT_EQ(expand_paths(layout.log_paths[2] + "," + layout.log_paths[0], "log"),
              (std::vector<std::string>{layout.log_paths[2], layout.log_paths[0]}));
    EXPECT_THROW(expand_paths(dir.file("nothing_*.csv"), "log"), ParamError);
    EXPECT_THROW(expand_paths(dir.file("missing.csv"), "log"), ParamError);
    const auto& all = layout.log_paths;
    EXPECT_EQ(select_files(all, "1-2"), (std::vector<std::string>{all[1], all[2]}));
    EXPECT_EQ(select_files(all, "0,3"), (std::vector<std::string>{all[0], all[3]}));
    EXPECT_EQ(select_files(all, "1/2"), (std::vector<std::string>{all[1], all[3]}));
    EXPECT_EQ(select_files(all, ""), all);
    EXPECT_THROW(select_files(all, "4"), ParamError);
    EXPECT_THROW(select_files(all, "x"), ParamError);
    // Shards k/n of n cover every file once.
    std::vector<std::string> shards;
    for (const char* shard : {"0/3", "1/3", "2/3"})
        for (const auto& f : select_files(all, shard)) shards.push_back(f);
    std::sort(shards.begin(), shards.end());
    EXPECT_EQ(shards, all);

    tools::DataSource source;
    source.log_path = logs;
    source.tracks_path = dir.file("mssd/track_features/*.csv");
    source.files = "0-1";
    const MssdFiles chosen = tools::resolve_files(source);
    EXPECT_EQ(chosen.logs, (std::vector<std::string>{all[0], all[1]}));
    EXPECT_EQ(chosen.tracks, layout.track_paths);
}

TEST(Layout, SampleSessionsKeepsAHashChosenShareWhateverTheFiles) {
    TempDir dir;
    const auto layout = write_generated_layout(small(1000), dir.file("mssd"), 5, false);
    const MssdData one = load_mssd_files({layout.log_paths[0]}, layout.track_paths, 0.3, {}, nullptr);
    const MssdData all = load_mssd_files(layout.log_paths, layout.track_paths, 0.3, {}, nullptr);
    const double share = static_cast<double>(all.log.num_sessions()) / static_cast<double>(layout.sessions);
    EXPECT_NEAR(share, 0.3, 0.06);
    for (const auto& id : all.log.session_ids) EXPECT_TRUE(keep_sampled_session(session_hash(id), 0.3));
    // The sessions kept from file 0 are the same whether it is read alone or with the others.
    for (size_t s = 0; s < one.log.session_ids.size(); ++s) EXPECT_EQ(one.log.session_ids[s], all.log.session_ids[s]);
}

TEST(Layout, ASessionInTwoFilesIsAnErrorNamingBoth) {
    TempDir dir;
    const auto layout = write_generated_layout(small(), dir.file("mssd"), 2, false);
    // Move the first session's last row from file 0 into file 1.
    const std::string first = test::read_text(layout.log_paths[0]);
    std::vector<std::string> lines;
    for (size_t begin = 0; begin < first.size();) {
        const size_t end = first.find('\n', begin);
        lines.push_back(first.substr(begin, end - begin));
        begin = end + 1;
    }
    const std::string session = lines[1].substr(0, lines[1].find(','));
    size_t last = 1;
    while (last + 1 < lines.size() && lines[last + 1].rfind(session + ",", 0) == 0) ++last;
    std::string moved = lines[last], rest;
    for (size_t i = 0; i < lines.size(); ++i)
        if (i != last) rest += lines[i] + "\n";
    std::ofstream(layout.log_paths[0], std::ios::binary) << rest;
    std::ofstream(layout.log_paths[1], std::ios::app | std::ios::binary) << moved << "\n";
    try {
        load_mssd_files(layout.log_paths, layout.track_paths, 1.0, {}, nullptr);
        FAIL() << "a session split over two files was accepted";
    } catch (const DataError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(session), std::string::npos) << message;
        EXPECT_NE(message.find(layout.log_paths[0]), std::string::npos) << message;
        EXPECT_NE(message.find(layout.log_paths[1]), std::string::npos) << message;
    }
}

TEST(Layout, CommandLineTrainsOnEachLayout) {
    TempDir dir;
    write_generated_layout(small(), dir.file("real"), 3, false);
    const auto generated = write_generated_mssd(small(), dir.file("gen"));
    fs::create_directories(dir.file("gz"));
    gzip_file(generated.log_path, dir.file("gz/log_mini.csv.gz"));
    gzip_file(generated.tracks_path, dir.file("gz/tf_mini.csv.gz"));
    for (const std::string data : {"real", "gen", "gz"}) {
        const auto result = test::run_skipper({"train", "gbdt", "task=seed", "data=" + dir.file(data), "num_iterations=3",
                                               "output_model=" + dir.file(data + ".bin")});
        EXPECT_EQ(result.code, 0) << data << ": " << result.err;
    }
}

}  // namespace
}  // namespace skipper::data
