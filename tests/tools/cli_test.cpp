// The skipper command: usage errors exit 2 with a message naming the problem,
// failures exit 1 with their context, and train/eval/predict/gen work end to
// end on tiny generated data.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tests/tools/tools_test_util.h"

namespace skipper::test {
namespace {

TEST(CliUsage, NoArgumentsPrintsHelpAndExits2) {
    const auto r = run_skipper({});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("usage: skipper <command>"), std::string::npos);
}

TEST(CliUsage, UnknownCommandExits2) {
    const auto r = run_skipper({"frobnicate"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
}

TEST(CliUsage, UnknownParameterIsNamed) {
    const auto r = run_skipper({"train", "gbdt", "num_leafs=10"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("parameter 'num_leafs'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("skipper train --help"), std::string::npos) << r.err;
}

TEST(CliUsage, OutOfRangeAndMalformedValuesAreNamed) {
    auto r = run_skipper({"train", "gbdt", "learning_rate=-1"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("learning_rate"), std::string::npos) << r.err;
    r = run_skipper({"train", "task=sequence"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("parameter 'task'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("seed, session"), std::string::npos) << r.err;
    r = run_skipper({"serve", "port=http"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("expected an integer, got 'http'"), std::string::npos) << r.err;
    r = run_skipper({"train", "lstm", "hidden_size=0"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("hidden_size"), std::string::npos) << r.err;
}

TEST(CliUsage, ParametersBelongToTheirLearner) {
    // num_leaves is a gbdt parameter; the lstm does not take it.
    const auto r = run_skipper({"train", "lstm", "num_leaves=8"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("parameter 'num_leaves'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("lstm parameters"), std::string::npos) << r.err;
}

TEST(CliUsage, StrayWordsAndDanglingFlagsAreUsageErrors) {
    auto r = run_skipper({"eval", "model.bin"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("unexpected argument 'model.bin'"), std::string::npos) << r.err;
    r = run_skipper({"gen", "--sessions"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--sessions needs a value"), std::string::npos) << r.err;
    r = run_skipper({"serve"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("model=FILE is required"), std::string::npos) << r.err;
}

TEST(CliUsage, GbdtHasNoCudaDevice) {
    const auto r = run_skipper({"train", "gbdt", "device=cuda"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("parameter 'device'"), std::string::npos) << r.err;
}

TEST(CliHelp, EveryCommandHasHelpFromItsTables) {
    for (const char* command : {"run", "gen", "train", "eval", "predict", "serve", "report", "version"}) {
        const auto r = run_skipper({command, "--help"});
        EXPECT_EQ(r.code, 0) << command;
        EXPECT_NE(r.out.find(std::string("skipper ") + command), std::string::npos) << command;
    }
    const auto train = run_skipper({"train", "--help"});
    for (const char* name : {"num_leaves=31", "learning_rate=0.1", "hidden_size=116", "task=seed", "metrics_out="})
        EXPECT_NE(train.out.find(name), std::string::npos) << name;
    EXPECT_EQ(run_skipper({"--help"}).code, 0);
}

TEST(CliConfig, FileErrorsNameFileAndLine) {
    TempDir dir;
    const std::string config = dir.file("train.conf");
    {
        std::ofstream out(config);
        out << "# settings\nnum_iterations = 5\nthis line is wrong\n";
    }
    const auto r = run_skipper({"train", "config=" + config});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find(config + ":3"), std::string::npos) << r.err;
    const auto missing = run_skipper({"train", "config=" + dir.file("absent.conf")});
    EXPECT_EQ(missing.code, 2);
    EXPECT_NE(missing.err.find("absent.conf"), std::string::npos) << missing.err;
}

TEST(CliFailure, MissingAndCorruptModelsExit1WithThePath) {
    TempDir dir;
    const std::string absent = dir.file("absent.bin");
    auto r = run_skipper({"eval", "model=" + absent, "sessions=20"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(absent), std::string::npos) << r.err;
    const std::string corrupt = dir.file("corrupt.bin");
    {
        std::ofstream out(corrupt);
        out << "this is not a model";
    }
    r = run_skipper({"serve", "model=" + corrupt});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(corrupt), std::string::npos) << r.err;
}

TEST(CliFailure, DataFolderWithoutMssdFilesIsExplained) {
    TempDir dir;
    const auto r = run_skipper({"train", "data=" + dir.file(""), "num_iterations=2"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("log*.csv"), std::string::npos) << r.err;
}

TEST(CliEndToEnd, TrainEvalPredictWithConfigAndMetricsJson) {
    TempDir dir;
    const std::string config = dir.file("train.conf");
    {
        std::ofstream out(config);
        out << "num_iterations = 50\nmin_data_in_leaf = 5\nsessions = 60\n";
    }
    const std::string model = dir.file("model.bin"), metrics = dir.file("metrics.json");
    // The command line (num_iterations=8) wins over the config file (50).
    auto r = run_skipper({"train", "gbdt", "config=" + config, "num_iterations=8", "--metrics-out", metrics,
                          "output_model=" + model});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("warning"), std::string::npos) << "the leak warning is missing: " << r.err;
    EXPECT_NE(r.err.find(std::string("hist_user_behavior_reason_end")), std::string::npos) << r.err;
    const auto document = nlohmann::json::parse(read_text(metrics));
    EXPECT_EQ(document["learner"], "gbdt");
    EXPECT_EQ(document["training"]["records"].size(), 8u);
    const double accuracy = document["test"]["accuracy"];
    EXPECT_GT(accuracy, 0.9);  // the leak makes the seed task easy
    EXPECT_LE(accuracy, 1.0);

    r = run_skipper({"eval", "model=" + model, "sessions=30", "sample_seed=7"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("accuracy = "), std::string::npos) << r.out;

    const std::string csv = dir.file("predictions.csv");
    r = run_skipper({"predict", "model=" + model, "sessions=30", "sample_seed=7", "output_result=" + csv});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string text = read_text(csv);
    EXPECT_EQ(text.rfind("session_id,session_position,probability,skipped\n", 0), 0u);
    EXPECT_GT(std::count(text.begin(), text.end(), '\n'), 30 * 10);
}

TEST(CliEndToEnd, GenWritesRawMssdFilesThatTrainReads) {
    TempDir dir;
    const std::string out = dir.file("sample");
    auto r = run_skipper({"gen", "--sessions", "40", "--seed", "3", "--out", out});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(out + "/log_0.csv"));
    EXPECT_TRUE(std::filesystem::exists(out + "/tf_0.csv"));
    r = run_skipper({"train", "gbdt", "task=session", "data=" + out, "num_iterations=3", "min_data_in_leaf=5",
                     "output_model=" + dir.file("m.bin")});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("aa = "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("baseline_aa = "), std::string::npos) << r.out;
}

// The real binary's exit codes, as a shell script sees them.
TEST(CliBinary, ExitCodes) {
    const char* binary = std::getenv("SKIPPER_BINARY");
    if (binary == nullptr) GTEST_SKIP() << "SKIPPER_BINARY is not set (run through ctest)";
    const auto status = [&](const std::string& args) {
        const int raw = std::system((std::string(binary) + " " + args + " >/dev/null 2>&1").c_str());
        return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    };
    EXPECT_EQ(status("version"), 0);
    EXPECT_EQ(status("train bogus=1"), 2);
    EXPECT_EQ(status("eval model=/nonexistent/model.bin sessions=20"), 1);
}

}  // namespace
}  // namespace skipper::test
