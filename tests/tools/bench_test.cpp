// skipper bench (tools/bench.h) on a small sample: the table and the JSON
// carry every figure with the machine's description, and bad choices are
// errors naming the parameter. The LSTM part runs at its real shapes
// (B = 1000) and is left to `skipper bench` itself: too slow for a unit test.
#include <gtest/gtest.h>

#include <sstream>

#include "engine/context.h"
#include "engine/error.h"
#include "tools/bench.h"

namespace skipper::tools {
namespace {

TEST(Bench, GbdtFiguresAndTheMachineAreReported) {
    BenchOptions options;
    options.learner = "gbdt";
    options.device = "cpu";
    options.sessions = 200;
    options.gbdt_iterations = 3;
    options.num_threads = 2;
    std::ostringstream out, err;
    const nlohmann::json document = run_bench(options, out, err);
    ASSERT_EQ(document["results"].size(), 2u);
    for (const auto& row : document["results"]) {
        EXPECT_EQ(row["learner"], "gbdt");
        EXPECT_EQ(row["device"], "cpu");
        EXPECT_EQ(row["trees"], 3);
        EXPECT_GT(row["rows"].get<double>(), 0.0);
        EXPECT_GT(row["value"].get<double>(), 0.0);
        EXPECT_NEAR(row["value"].get<double>(),
                    row["rows"].get<double>() * 3 / row["seconds_median"].get<double>(), 1e-6 * row["value"].get<double>());
    }
    EXPECT_EQ(document["results"][0]["shape"], "seed");
    EXPECT_EQ(document["results"][1]["shape"], "session");
    const auto& machine = document["machine"];
    for (const char* key : {"cpu_model", "cpu_flags", "cores", "threads", "load_average", "skipper_version", "blas", "cuda"})
        EXPECT_TRUE(machine.contains(key)) << key;
    EXPECT_EQ(machine["threads"], 2);
    EXPECT_NE(out.str().find("rows x trees / s"), std::string::npos) << out.str();
}

TEST(Bench, RefusesUnknownChoicesAndAnAbsentGpu) {
    BenchOptions options;
    std::ostringstream out, err;
    options.learner = "forest";
    EXPECT_THROW(run_bench(options, out, err), ParamError);
    if (!cuda_available()) {
        options.learner = "gbdt";
        options.device = "cuda";
        EXPECT_THROW(run_bench(options, out, err), ParamError);
    }
}

}  // namespace
}  // namespace skipper::tools
