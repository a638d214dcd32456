// The oracle ceilings of tools/oracle.h, checked against the generator's
// formula (trainer/data/GENERATOR.md) written out by hand.
#include "tools/oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tools/experiment.h"
#include "trainer/data/features.h"

namespace skipper::tools {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

data::GeneratorOptions small(int64_t sessions) {
    data::GeneratorOptions options;
    options.sessions = sessions;
    options.seed = 7;
    return options;
}

TaskData session_split(const data::MssdData& mssd) {
    return build_task_data(mssd, {Task::session, false}, false, SplitOptions{}, [](const std::string&) {});
}

int64_t log_row(const data::SessionLog& log, int32_t session, int32_t position) {
    for (int64_t i = 0; i < log.rows; ++i)
        if (log.session.data<int32_t>()[i] == session && log.session_position.data<int32_t>()[i] == position) return i;
    return -1;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
    return a.numel() == b.numel() && a.dtype() == b.dtype() &&
           std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(Oracle, AskingForTheHiddenStateLeavesTheTablesUnchanged) {
    data::HiddenState hidden;
    const auto plain = data::generate_mssd(small(300));
    const auto with_hidden = data::generate_mssd(small(300), &hidden);
    EXPECT_TRUE(same_bytes(plain.log.skip_2, with_hidden.log.skip_2));
    EXPECT_TRUE(same_bytes(plain.log.skip_1, with_hidden.log.skip_1));
    EXPECT_TRUE(same_bytes(plain.log.track, with_hidden.log.track));
    EXPECT_TRUE(same_bytes(plain.log.hist_user_behavior_reason_end, with_hidden.log.hist_user_behavior_reason_end));
    EXPECT_TRUE(same_bytes(plain.tracks.values, with_hidden.tracks.values));
    EXPECT_EQ(plain.log.session_ids, with_hidden.log.session_ids);
    EXPECT_EQ(static_cast<int64_t>(hidden.logit.size()), plain.log.rows);
    EXPECT_EQ(static_cast<int64_t>(hidden.taste_direction.size()), 300 * 8);
}

// (a): sigmoid(b(p) + u + s_p + 2.8 <w, a_t> + 1.1 c_t), with a_t read back
// from the written acoustic vector (0.3 a_t, stored as float).
TEST(Oracle, FullOracleIsTheSigmoidOfTheGeneratorsLogit) {
    data::HiddenState hidden;
    const auto mssd = data::generate_mssd(small(200), &hidden);
    const TaskData task = session_split(mssd);
    const auto probabilities = full_oracle_probabilities(task.test_rows, mssd, hidden);
    ASSERT_EQ(static_cast<int64_t>(probabilities.size()), task.test_rows.rows());
    const auto& names = data::track_feature_columns();
    const auto acoustic = std::find(names.begin(), names.end(), "acoustic_vector_0") - names.begin();
    ASSERT_LT(acoustic, static_cast<int64_t>(names.size()));
    const auto columns = mssd.tracks.values.size(1);
    for (int64_t r : {int64_t{0}, int64_t{1}, int64_t{7}, task.test_rows.rows() - 1}) {
        const int32_t s = task.test_rows.session_index[static_cast<size_t>(r)];
        const int32_t p = task.test_rows.position[static_cast<size_t>(r)];
        const int64_t i = log_row(mssd.log, s, p);
        ASSERT_GE(i, 0);
        const float* track = mssd.tracks.values.data<float>() + mssd.track_row.data<int32_t>()[i] * columns;
        double taste = 0.0;
        for (int j = 0; j < 8; ++j) taste += hidden.taste_direction[static_cast<size_t>(s * 8 + j)] * track[acoustic + j] / 0.3;
        const double position_offset = p == 1 ? -0.65 : p == 2 ? 0.45 : 1.02;
        const auto k = static_cast<size_t>(i);
        const double logit = position_offset + hidden.session_propensity[k] + hidden.mood[k] + 2.8 * taste +
                             1.1 * hidden.track_propensity[k];
        EXPECT_NEAR(probabilities[static_cast<size_t>(r)], sigmoid(logit), 1e-5) << "row " << r;
    }
}

TEST(Oracle, ExpectedSigmoidMatchesAFineSum) {
    EXPECT_DOUBLE_EQ(expected_sigmoid(0.7, 0.0), sigmoid(0.7));
    EXPECT_NEAR(expected_sigmoid(0.0, 2.2), 0.5, 1e-12);
    for (double mean : {-3.0, -0.4, 1.3}) {
        EXPECT_NEAR(expected_sigmoid(mean, 1.5) + expected_sigmoid(-mean, 1.5), 1.0, 1e-12);
        // A plain double loop: 200,001 points over +-12 sd.
        double sum = 0.0, weights = 0.0;
        for (int k = -100000; k <= 100000; ++k) {
            const double z = 12.0 * k / 100000.0, w = std::exp(-0.5 * z * z);
            sum += w * sigmoid(mean + 1.5 * z);
            weights += w;
        }
        EXPECT_NEAR(expected_sigmoid(mean, 1.5), sum / weights, 1e-9) << mean;
    }
}

// (b): the mood at the last history position h, carried k = p - h steps by the AR(1).
TEST(Oracle, HistoryOracleAveragesOverTheFutureMood) {
    data::HiddenState hidden;
    const auto mssd = data::generate_mssd(small(200), &hidden);
    const TaskData task = session_split(mssd);
    const auto probabilities = history_oracle_probabilities(task.test_rows, mssd, hidden);
    for (int64_t r : {int64_t{0}, int64_t{3}, task.test_rows.rows() - 1}) {
        const int32_t s = task.test_rows.session_index[static_cast<size_t>(r)];
        const int32_t p = task.test_rows.position[static_cast<size_t>(r)];
        const auto i = static_cast<size_t>(log_row(mssd.log, s, p));
        const int32_t h = mssd.log.session_length.data<int32_t>()[i] / 2;
        const auto last = static_cast<size_t>(log_row(mssd.log, s, h));
        const double decay = std::pow(0.93, p - h);
        const double mean = hidden.logit[i] - hidden.mood[i] + decay * hidden.mood[last];
        EXPECT_NEAR(probabilities[static_cast<size_t>(r)], expected_sigmoid(mean, 2.2 * std::sqrt(1.0 - decay * decay)),
                    1e-12);
    }
}

// On enough sessions the ceilings order as they must: full > history (the
// state known) > posterior (the state inferred from the history's labels) > repeat-last.
TEST(Oracle, CeilingsOrderAboveRepeatLast) {
    data::HiddenState hidden;
    const auto mssd = data::generate_mssd(small(3000), &hidden);
    const TaskData task = session_split(mssd);
    auto aa = [&](const std::vector<double>& probabilities) {
        const std::vector<float> p(probabilities.begin(), probabilities.end());
        return score_row_probabilities(task.test_rows, p, true).metrics;
    };
    const auto full = aa(full_oracle_probabilities(task.test_rows, mssd, hidden));
    const auto history = aa(history_oracle_probabilities(task.test_rows, mssd, hidden));
    EXPECT_GT(full.at("aa"), history.at("aa") + 0.02);
    const auto posterior = aa(posterior_oracle_probabilities(task.test_rows, mssd, hidden, 400, 1));
    EXPECT_GT(history.at("aa"), posterior.at("aa") + 0.02);
    EXPECT_GT(posterior.at("aa"), posterior.at("baseline_aa") + 0.03);
    EXPECT_LT(posterior.at("logloss"), 0.69);
}

}  // namespace
}  // namespace skipper::tools
