// The progress display: a bar with rate and ETA on a terminal, plain log
// lines (thinned on long runs) everywhere else.
#include <gtest/gtest.h>

#include <sstream>

#include "tools/progress.h"

namespace skipper::test {
namespace {

IterationRecord record(int64_t iteration, int64_t total, double seconds) {
    IterationRecord r;
    r.iteration = iteration;
    r.total = total;
    r.seconds = seconds;
    r.metrics["valid_auc"] = 0.75;
    return r;
}

TEST(ProgressTest, PlainLogShowsEveryStepOfShortRuns) {
    std::ostringstream out;
    tools::ProgressPrinter progress(out, false, "lstm seed", "epoch");
    for (int64_t e = 1; e <= 3; ++e) progress.update(record(e, 3, 2.0 * static_cast<double>(e)));
    progress.finish();
    EXPECT_EQ(out.str(),
              "[lstm seed] epoch 1/3  2.0s valid_auc=0.7500\n"
              "[lstm seed] epoch 2/3  4.0s valid_auc=0.7500\n"
              "[lstm seed] epoch 3/3  6.0s valid_auc=0.7500\n");
}

TEST(ProgressTest, PlainLogThinsLongRunsToAboutTwentyLines) {
    std::ostringstream out;
    tools::ProgressPrinter progress(out, false, "gbdt seed", "iter");
    for (int64_t i = 1; i <= 1000; ++i) progress.update(record(i, 1000, 0.01 * static_cast<double>(i)));
    const std::string text = out.str();
    const auto lines = std::count(text.begin(), text.end(), '\n');
    EXPECT_GE(lines, 20);
    EXPECT_LE(lines, 22);
    EXPECT_NE(text.find("iter 1/1000"), std::string::npos);
    EXPECT_NE(text.find("iter 1000/1000"), std::string::npos);
}

TEST(ProgressTest, TerminalBarShowsRateAndEta) {
    std::ostringstream out;
    tools::ProgressPrinter progress(out, true, "gbdt seed", "iter");
    progress.update(record(25, 100, 5.0));
    const std::string text = out.str();
    EXPECT_EQ(text.front(), '\r');
    EXPECT_NE(text.find("[######..................] 25/100 iter"), std::string::npos) << text;
    EXPECT_NE(text.find("5.0 iter/s"), std::string::npos) << text;
    EXPECT_NE(text.find("ETA 15.0s"), std::string::npos) << text;
    progress.update(record(100, 100, 20.0));  // the last step always draws
    progress.finish();
    EXPECT_NE(out.str().find("100/100"), std::string::npos);
    EXPECT_EQ(out.str().back(), '\n');
}

TEST(ProgressTest, DurationsReadLikeAClock) {
    EXPECT_EQ(tools::format_duration(3.25), "3.2s");
    EXPECT_EQ(tools::format_duration(65), "1m05s");
    EXPECT_EQ(tools::format_duration(7322), "2h02m");
}

}  // namespace
}  // namespace skipper::test
