// Data-parallel training under mpirun, on loopback: the skipper command run
// as 1, 2 and 3 ranks on the same generated data. Skipped where MPI was not
// built.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/collective.h"
#include "tests/tools/tools_test_util.h"
#include "tools/data_source.h"
#include "trainer/data/layout.h"
#include "trainer/lstm/lstm.h"

namespace skipper::test {
namespace {

struct ShellRun {
    int code = -1;
    std::string output;  // stdout and stderr
    double seconds = 0.0;
};

ShellRun run_shell(const std::string& command) {
    ShellRun run;
    const auto start = std::chrono::steady_clock::now();
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    size_t got = 0;
    while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, got);
    const int status = pclose(pipe);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return run;
}

std::string skipper_binary() {
    const char* path = std::getenv("SKIPPER_BINARY");
    return path == nullptr ? std::string() : path;
}

// mpirun for root (CI runs as root) and more ranks than cores, on loopback; waiting ranks yield
// the CPU instead of polling, which the ranks sharing two cores with other tests need.
const std::string kMpirun = std::string(SKIPPER_MPIEXEC) +
                            " --allow-run-as-root --oversubscribe --mca btl self,vader --mca mpi_yield_when_idle 1";
std::string mpirun(int ranks) { return kMpirun + " -np " + std::to_string(ranks) + " "; }

class MpiTrain : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!collective::built_with_mpi() || skipper_binary().empty()) return;
        dir_ = std::make_unique<TempDir>();
        const ShellRun gen = run_shell(skipper_binary() + " gen --sessions 300 --seed 7 --out " + dir_->file("data"));
        ASSERT_EQ(gen.code, 0) << gen.output;
        // The real release's layout, the same kind of sessions in 4 log files.
        const ShellRun files =
            run_shell(skipper_binary() + " gen --sessions 300 --seed 8 --files 4 --out " + dir_->file("data4"));
        ASSERT_EQ(files.code, 0) << files.output;
    }
    static void TearDownTestSuite() { dir_.reset(); }
    void SetUp() override {
        if (!collective::built_with_mpi()) GTEST_SKIP() << "built without MPI (-DSKIPPER_MPI=OFF or none found)";
        if (skipper_binary().empty()) GTEST_SKIP() << "SKIPPER_BINARY is not set";
    }

    // `skipper ARGS` on `ranks` ranks (0: without mpirun), one thread each,
    // on the generated folder `data`.
    static ShellRun skipper(int ranks, const std::string& args, const std::string& data = "data") {
        const std::string program = skipper_binary() + " " + args + " data=" + dir_->file(data) + " num_threads=1";
        return run_shell(ranks == 0 ? program : mpirun(ranks) + program);
    }
    static std::string file(const std::string& name) { return dir_->file(name); }

    static inline std::unique_ptr<TempDir> dir_;
};

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// 240 training sessions, less the 10% held out for validation, in batches
// of 24: 9 optimizer steps, and the validation metrics of one epoch. With
// dropout: each rank draws its rows' masks on their places in the global
// batch, so the ranks drop what one process drops.
const std::string kLstm = "train lstm task=session hidden_size=12 epochs=1 batch_size=24 dropout=0.3 device=cpu";

// Each rank reads its share of the files in `data` (files k/n, or sessions by
// hash with fewer files than ranks) and trains, in every global batch of one
// process's order, on the sessions of it that it holds: the weights agree with
// one process reading every file.
void expect_lstm_matches_one_process(const std::function<ShellRun(int, const std::string&)>& skipper,
                                     const std::function<std::string(const std::string&)>& file, const std::string& tag,
                                     const std::string& sharing) {
    const ShellRun single = skipper(0, kLstm + " output_model=" + file(tag + "_1.bin") + " metrics_out=" +
                                           file(tag + "_1.json"));
    ASSERT_EQ(single.code, 0) << single.output;
    const LstmModel reference = LstmModel::load(file(tag + "_1.bin"));
    const auto reference_test = read_json(file(tag + "_1.json"))["test"];
    for (const int ranks : {2, 3}) {
        const std::string name = tag + "_" + std::to_string(ranks);
        const ShellRun run =
            skipper(ranks, kLstm + " output_model=" + file(name + ".bin") + " metrics_out=" + file(name + ".json"));
        ASSERT_EQ(run.code, 0) << run.output;
        EXPECT_NE(run.output.find(sharing), std::string::npos) << run.output;
        const LstmModel model = LstmModel::load(file(name + ".bin"));
        ASSERT_EQ(model.weights().size(), reference.weights().size());
        for (const auto& [weight, value] : reference.weights()) {
            const auto want = value.to_vector<float>();
            const auto got = model.weights().at(weight).to_vector<float>();
            ASSERT_EQ(got.size(), want.size()) << weight;
            // The sums over ranks add the same terms in another order. Relative
            // error in the tensor's norm: one element can move further, where
            // Adam divides a near-zero gradient (an input column set on few
            // steps) by its own small root mean square.
            double diff_sq = 0.0, want_sq = 0.0, scale = 0.0, worst = 0.0;
            for (size_t i = 0; i < want.size(); ++i) {
                const double d = static_cast<double>(got[i]) - want[i];
                diff_sq += d * d;
                want_sq += static_cast<double>(want[i]) * want[i];
                scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
                worst = std::max(worst, std::fabs(d));
            }
            EXPECT_LE(std::sqrt(diff_sq), 1e-5 * std::sqrt(want_sq)) << weight << " with " << ranks << " ranks";
            // Masks, batches or shares drawn wrongly move weights by about 1e-2 of their scale.
            EXPECT_LE(worst, 1e-4 * scale) << weight << " with " << ranks << " ranks";
        }
        // The test split is one process's sessions (the repeat-last baseline
        // scores them alike), scored where they were read and reduced.
        const auto test = read_json(file(name + ".json"))["test"];
        EXPECT_NEAR(test.at("baseline_aa").get<double>(), reference_test.at("baseline_aa").get<double>(), 1e-12)
            << ranks << " ranks";
        const double logloss = reference_test.at("logloss").get<double>();
        EXPECT_NEAR(test.at("logloss").get<double>(), logloss, 1e-5 * logloss) << ranks << " ranks";
    }
}

TEST_F(MpiTrain, LstmReadingSessionsByHashMatchesOneProcessAfterTenSteps) {
    // One file, fewer than the ranks: each rank keeps its sessions by hash.
    expect_lstm_matches_one_process([](int r, const std::string& a) { return skipper(r, a); }, file, "lstm",
                                    "a share of the sessions of every file");
}

TEST_F(MpiTrain, LstmReadingItsFilesMatchesOneProcessAfterTenSteps) {
    // 4 files: 2 each on 2 ranks, 2-1-1 on 3.
    expect_lstm_matches_one_process([](int r, const std::string& a) { return skipper(r, a, "data4"); }, file, "lstm4",
                                    "its share of the files");
}

TEST_F(MpiTrain, LstmFromACacheReadingItsSessionsMatchesOneProcessAfterTenSteps) {
    // The 4 files prepared into one cache; each rank maps it and reads only its range of the sessions.
    const std::string cache = file("data4.cache");
    const ShellRun prepare = run_shell(skipper_binary() + " prepare task=session num_threads=1 data=" + file("data4") +
                                       " out=" + cache);
    ASSERT_EQ(prepare.code, 0) << prepare.output;
    expect_lstm_matches_one_process(
        [&](int ranks, const std::string& args) {
            const std::string program = skipper_binary() + " " + args + " dataset=" + cache + " num_threads=1";
            return run_shell(ranks == 0 ? program : mpirun(ranks) + program);
        },
        file, "lstm_cache", "ranks, each its range of the sessions");
}

TEST_F(MpiTrain, LstmIsBitIdenticalAcrossRunsWithTheSameRanks) {
    for (const std::string name : {"lstm_a.bin", "lstm_b.bin"}) {
        const ShellRun run = skipper(3, kLstm + " output_model=" + file(name), "data4");
        ASSERT_EQ(run.code, 0) << run.output;
    }
    EXPECT_EQ(read_text(file("lstm_a.bin")), read_text(file("lstm_b.bin")));
}

// The streamed session rows, each rank reading only its share: GBDT model
// bytes identical to one process (quantized histograms, with bagging,
// feature_fraction and a bin sample smaller than the data, so the gathered
// samples are merged and trimmed), and the held-out metrics reduced.
void expect_gbdt_matches_one_process(const std::function<ShellRun(int, const std::string&)>& skipper,
                                     const std::function<std::string(const std::string&)>& file, const std::string& tag,
                                     const std::string& args, const std::string& sharing) {
    const ShellRun single =
        skipper(0, args + " output_model=" + file(tag + "_1.bin") + " metrics_out=" + file(tag + "_1.json"));
    ASSERT_EQ(single.code, 0) << single.output;
    const auto reference = read_json(file(tag + "_1.json"))["test"];
    for (const int ranks : {2, 3}) {
        const std::string name = tag + "_" + std::to_string(ranks);
        const ShellRun run =
            skipper(ranks, args + " output_model=" + file(name + ".bin") + " metrics_out=" + file(name + ".json"));
        ASSERT_EQ(run.code, 0) << run.output;
        EXPECT_NE(run.output.find(sharing), std::string::npos) << run.output;
        EXPECT_EQ(read_text(file(name + ".bin")), read_text(file(tag + "_1.bin"))) << ranks << " ranks";
        // The held-out rows are scored where they were read and reduced:
        // counts and the AUC exactly, log loss and AA up to the order of a
        // double sum.
        const auto metrics = read_json(file(name + ".json"))["test"];
        for (const auto& [key, value] : reference.items()) {
            const double want = value.get<double>(), got = metrics.at(key).get<double>();
            if (key == "logloss" || key == "aa" || key == "baseline_aa")
                EXPECT_NEAR(got, want, 1e-12) << key << " with " << ranks << " ranks";
            else
                EXPECT_EQ(got, want) << key << " with " << ranks << " ranks";
        }
    }
}

const std::string kGbdt =
    "train gbdt task=session num_iterations=10 min_data_in_leaf=5 use_quantized_grad=true bagging_fraction=0.7 "
    "bagging_freq=2 feature_fraction=0.8 bin_construct_sample_cnt=1500";

TEST_F(MpiTrain, GbdtFromOneFileSharedBySessionMatchesOneProcess) {
    // One file, fewer than the ranks: each rank keeps its sessions by hash.
    expect_gbdt_matches_one_process([](int r, const std::string& a) { return skipper(r, a); }, file, "gbdt",
                                    kGbdt, "a share of the sessions of every file");
}

TEST_F(MpiTrain, GbdtFromFourFilesSharedByFileMatchesOneProcess) {
    // 4 files: 2 each on 2 ranks, 2-1-1 on 3.
    // No false alarm from the spanning check across ranks, which ran.
    expect_gbdt_matches_one_process([](int r, const std::string& a) { return skipper(r, a, "data4"); }, file,
                                    "gbdt4", kGbdt,
                                    "its share of the files; sessions checked whole within one file across ranks");
}

TEST_F(MpiTrain, GbdtOnTheSeedTaskMatchesOneProcess) {
    // The in-memory path: every rank reads every file and trains on its share of the rows.
    const std::string args =
        "train gbdt task=seed num_iterations=10 min_data_in_leaf=5 use_quantized_grad=true bagging_fraction=0.7 "
        "bagging_freq=2";
    const ShellRun single = skipper(0, args + " output_model=" + file("seed_1.bin"));
    ASSERT_EQ(single.code, 0) << single.output;
    for (const int ranks : {2, 3}) {
        const std::string path = file("seed_" + std::to_string(ranks) + ".bin");
        const ShellRun run = skipper(ranks, args + " output_model=" + path);
        ASSERT_EQ(run.code, 0) << run.output;
        EXPECT_EQ(read_text(path), read_text(file("seed_1.bin"))) << ranks << " ranks";
    }
}

// Rank `bad` of `ranks` reads a log with a malformed row (mpirun's MPMD form
// gives it its own arguments): the job ends with exit 1 and that rank's
// message while the other ranks wait in a collective.
void expect_bad_file_ends_job(int ranks, int bad, const std::string& good_log, const std::string& bad_log,
                              const std::string& tracks) {
    const std::string args = " train lstm task=session hidden_size=8 epochs=1 device=cpu num_threads=1 tracks=" +
                             tracks + " log=";
    std::string command = kMpirun;
    for (int r = 0; r < ranks; ++r)
        command += std::string(r == 0 ? "" : " :") + " -np 1 " + skipper_binary() + args +
                   (r == bad ? bad_log : good_log);
    const ShellRun run = run_shell("timeout 60 " + command);
    EXPECT_EQ(run.code, 1) << run.output;
    EXPECT_LT(run.seconds, 10.0) << run.output;
    EXPECT_NE(run.output.find("error (rank " + std::to_string(bad) + " of " + std::to_string(ranks) + ")"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find(bad_log + ":"), std::string::npos) << run.output;
}

// A log's text with the 10th row's session_position broken.
std::string with_bad_row(std::string text) {
    size_t line = 0;
    for (int i = 0; i < 10; ++i) line = text.find('\n', line) + 1;
    const size_t comma = text.find(',', line);
    text.replace(comma + 1, text.find(',', comma + 1) - comma - 1, "not-a-number");
    return text;
}

TEST_F(MpiTrain, BadFileOnOneRankEndsTheJobWithItsMessage) {
    const data::MssdFiles files = data::find_mssd_layout(file("data"));
    ASSERT_EQ(files.logs.size(), 1u);
    ASSERT_EQ(files.tracks.size(), 1u);
    const std::string& log = files.logs.front();
    const std::string& tracks = files.tracks.front();
    const std::string bad = file("bad_log.csv");
    std::ofstream(bad, std::ios::binary) << with_bad_row(read_text(log));
    expect_bad_file_ends_job(2, 1, log, bad, tracks);
    expect_bad_file_ends_job(3, 2, log, bad, tracks);
}

// The streamed GBDT with every rank reading its share of 4 files, file `bad`
// broken: the rank that reads it (files k/n) ends the job with exit 1 and its
// message, while the others wait for its bin sample; no other rank read it.
void expect_bad_shared_file_ends_job(const std::string& folder, int ranks, int bad, int reader) {
    const data::MssdFiles files = data::find_mssd_layout(folder);
    ASSERT_EQ(files.logs.size(), 4u);
    const std::string broken = files.logs[static_cast<size_t>(bad)];
    const std::string good = read_text(broken);
    std::ofstream(broken, std::ios::binary) << with_bad_row(good);
    const ShellRun run = run_shell("timeout 60 " + mpirun(ranks) + skipper_binary() +
                                   " train gbdt task=session num_iterations=2 num_threads=1 data=" + folder);
    std::ofstream(broken, std::ios::binary) << good;
    EXPECT_EQ(run.code, 1) << run.output;
    EXPECT_LT(run.seconds, 10.0) << run.output;
    EXPECT_NE(run.output.find("error (rank " + std::to_string(reader) + " of " + std::to_string(ranks) + ")"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find(broken + ":"), std::string::npos) << run.output;
    for (int r = 0; r < ranks; ++r) {
        if (r == reader) continue;
        EXPECT_EQ(run.output.find("error (rank " + std::to_string(r) + " "), std::string::npos) << run.output;
    }
}

TEST_F(MpiTrain, BadFileReadByOneRankEndsTheJobWithItsMessage) {
    expect_bad_shared_file_ends_job(file("data4"), 2, 3, 1);  // rank 1 reads files 1 and 3
    expect_bad_shared_file_ends_job(file("data4"), 3, 2, 2);  // rank 2 reads file 2 alone
}

// The first session of one log's text (MSSD's files keep each session's
// lines together, the session id first): its id and its lines.
std::pair<std::string, std::string> first_session(const std::string& text) {
    const size_t begin = text.find('\n') + 1;
    const std::string id = text.substr(begin, text.find(',', begin) - begin);
    size_t end = begin;
    while (end < text.size() && text.compare(end, id.size() + 1, id + ",") == 0) end = text.find('\n', end) + 1;
    return {id, text.substr(begin, end - begin)};
}

// The 4-file layout with log 0's first session copied to the end of log 1:
// the job ends with exit 1 and one process's message, naming both files and
// the session, whatever the number of ranks: with files k/n (log 0 on rank 0,
// log 1 on rank 1, for 2 and 3 ranks) the owner of the session's hash finds
// it, and rank 1 reports it; with 2 files on 3 ranks (sessions by hash), the
// rank whose share holds the session finds it in both files itself.
TEST_F(MpiTrain, SessionInFilesOfTwoRanksEndsTheJobNamingBoth) {
    const std::string folder = file("spanning4");
    std::filesystem::copy(file("data4"), folder, std::filesystem::copy_options::recursive);
    const data::MssdFiles files = data::find_mssd_layout(folder);
    ASSERT_EQ(files.logs.size(), 4u);
    const auto [id, lines] = first_session(read_text(files.logs[0]));
    ASSERT_FALSE(id.empty());
    std::ofstream(files.logs[1], std::ios::binary | std::ios::app) << lines;
    const std::string message = files.logs[1] + ":";
    const std::string names = "session '" + id + "' is also in " + files.logs[0] + ";";
    const auto run = [&](int ranks, const std::string& extra) {
        const ShellRun job = run_shell("timeout 60 " + mpirun(ranks) + skipper_binary() +
                                       " train gbdt task=session num_iterations=2 num_threads=1 data=" + folder + extra);
        EXPECT_EQ(job.code, 1) << job.output;
        EXPECT_LT(job.seconds, 10.0) << job.output;
        EXPECT_NE(job.output.find(message), std::string::npos) << job.output;
        EXPECT_NE(job.output.find(names), std::string::npos) << job.output;
        return job.output;
    };
    run(1, "");
    for (const int ranks : {2, 3}) {
        const std::string output = run(ranks, "");
        EXPECT_NE(output.find("error (rank 1 of " + std::to_string(ranks) + ")"), std::string::npos) << output;
        size_t errors = 0;
        for (size_t at = output.find("error (rank"); at != std::string::npos; at = output.find("error (rank", at + 1))
            ++errors;
        EXPECT_EQ(errors, 1u) << output;
    }
    run(3, " files=0,1");
}

}  // namespace
}  // namespace skipper::test
