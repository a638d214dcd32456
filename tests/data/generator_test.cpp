// The synthetic generator reproduces the facts of DESIGN section 5 within the
// stated tolerances, carries a real sequential signal, is deterministic, and
// its files read back into the same tables.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "engine/error.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/split.h"
#include "trainer/metrics/session_metrics.h"
#include "tests/test_util.h"

namespace skipper::data {
namespace {

// 4,000 sessions (about 68,000 rows): enough for the tolerances below
// (the standard error of a rate is at most 0.002 on rows, 0.008 on sessions).
class GeneratedData : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        GeneratorOptions options;
        options.sessions = 4000;
        options.seed = 11;
        data_ = std::make_unique<MssdData>(generate_mssd(options));
    }
    static void TearDownTestSuite() { data_.reset(); }
    static inline std::unique_ptr<MssdData> data_;
};

double mean_u8(const Tensor& t) {
    double sum = 0;
    for (uint8_t v : t.to_vector<uint8_t>()) sum += v;
    return sum / static_cast<double>(t.numel());
}

TEST_F(GeneratedData, RatesMatchTheRealData) {
    const SessionLog& log = data_->log;
    EXPECT_EQ(log.num_sessions(), 4000);
    EXPECT_NEAR(mean_u8(log.skip_2), 0.51, 0.02);
    EXPECT_NEAR(mean_u8(log.skip_1), 0.415, 0.02);
    EXPECT_NEAR(mean_u8(log.skip_3), 0.639, 0.02);
    EXPECT_NEAR(mean_u8(log.not_skipped), 0.344, 0.02);

    const auto position = log.session_position.to_vector<int32_t>();
    const auto length = log.session_length.to_vector<int32_t>();
    const auto skip_2 = log.skip_2.to_vector<uint8_t>();
    double at[4] = {0, 0, 0, 0}, count[4] = {0, 0, 0, 0};
    int64_t sessions = 0, length_20 = 0, length_10 = 0;
    for (size_t i = 0; i < position.size(); ++i) {
        const int slot = std::min(position[i], 3);
        at[slot] += skip_2[i];
        count[slot] += 1;
        if (position[i] == 1) {
            ++sessions;
            length_20 += length[i] == 20;
            length_10 += length[i] == 10;
            EXPECT_GE(length[i], 10);
            EXPECT_LE(length[i], 20);
        }
    }
    // The position effect: 0.374 at position 1, 0.467 at 2, then about 0.50-0.54.
    EXPECT_NEAR(at[1] / count[1], 0.37, 0.03);
    EXPECT_NEAR(at[2] / count[2], 0.467, 0.03);
    EXPECT_NEAR(at[3] / count[3], 0.52, 0.02);
    EXPECT_NEAR(static_cast<double>(length_20) / sessions, 0.48, 0.03);
    EXPECT_NEAR(static_cast<double>(length_10) / sessions, 0.088, 0.02);
}

TEST_F(GeneratedData, SkipFlagsNest) {
    const SessionLog& log = data_->log;
    const auto s1 = log.skip_1.to_vector<uint8_t>(), s2 = log.skip_2.to_vector<uint8_t>(),
               s3 = log.skip_3.to_vector<uint8_t>(), done = log.not_skipped.to_vector<uint8_t>();
    int64_t complement = 0;
    for (size_t i = 0; i < s1.size(); ++i) {
        ASSERT_LE(s1[i], s2[i]) << "row " << i;
        ASSERT_LE(s2[i], s3[i]) << "row " << i;
        ASSERT_FALSE(s3[i] && done[i]) << "row " << i;
        complement += done[i] == !s3[i];
    }
    // not_skipped is almost always the complement of skip_3 (0.983 on the real data).
    EXPECT_NEAR(static_cast<double>(complement) / static_cast<double>(s1.size()), 0.983, 0.01);
}

TEST_F(GeneratedData, ReasonEndLeaksTheLabel) {
    const SessionLog& log = data_->log;
    const auto end = log.hist_user_behavior_reason_end.to_vector<int32_t>();
    const auto done = log.not_skipped.to_vector<uint8_t>();
    int64_t right = 0;
    for (size_t i = 0; i < end.size(); ++i) right += (log.reason_end_names[end[i]] == "trackdone") == (done[i] == 1);
    EXPECT_NEAR(static_cast<double>(right) / static_cast<double>(end.size()), 0.99, 0.01);
}

TEST_F(GeneratedData, UsesTheDocumentedValueSetsAndRanges) {
    const SessionLog& log = data_->log;
    EXPECT_EQ(log.context_type_names, context_type_values());
    EXPECT_EQ(log.reason_start_names, reason_start_values());
    EXPECT_EQ(log.reason_end_names, reason_end_values());
    std::set<int32_t> contexts, starts, ends;
    for (int32_t v : log.context_type.to_vector<int32_t>()) contexts.insert(v);
    for (int32_t v : log.hist_user_behavior_reason_start.to_vector<int32_t>()) starts.insert(v);
    for (int32_t v : log.hist_user_behavior_reason_end.to_vector<int32_t>()) ends.insert(v);
    EXPECT_EQ(contexts.size(), context_type_values().size());
    EXPECT_EQ(starts.size(), reason_start_values().size());
    EXPECT_EQ(ends.size(), reason_end_values().size());
    for (int32_t h : log.hour_of_day.to_vector<int32_t>()) ASSERT_TRUE(h >= 0 && h <= 23);
    // Track features: realistic ranges.
    const auto& names = track_feature_columns();
    const auto values = data_->tracks.values.to_vector<float>();
    const auto columns = names.size();
    for (size_t c = 0; c < columns; ++c) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t r = 0; r < values.size() / columns; ++r) {
            lo = std::min(lo, values[r * columns + c]);
            hi = std::max(hi, values[r * columns + c]);
        }
        const std::string& name = names[c];
        if (name == "mode") EXPECT_TRUE(lo == 0.0f && hi == 1.0f);
        else if (name == "key") EXPECT_TRUE(lo == 0.0f && hi == 11.0f);
        else if (name == "release_year") EXPECT_TRUE(lo >= 1950.0f && hi <= 2018.0f);
        else if (name == "us_popularity_estimate") EXPECT_TRUE(lo >= 90.0f && hi <= 100.0f);
        else if (name == "tempo") EXPECT_TRUE(lo >= 50.0f && hi <= 220.0f);
        else if (name == "loudness") EXPECT_TRUE(lo >= -40.0f && hi <= 0.0f);
        else if (name == "duration") EXPECT_TRUE(lo >= 30.0f && hi <= 1800.0f);
        else if (name.rfind("acoustic_vector_", 0) == 0) EXPECT_TRUE(lo >= -2.0f && hi <= 2.0f && lo < 0.0f);
        else if (name != "dyn_range_mean" && name != "time_signature" && name != "flatness") {
            EXPECT_TRUE(lo >= 0.0f && hi <= 1.0f) << name;
        }
        EXPECT_LT(lo, hi) << name;
    }
}

TEST_F(GeneratedData, RepeatLastScoresLikeOnTheRealData) {
    const SequenceDataset sequences = build_session_sequences(*data_);
    const auto repeat_last = metrics::session_scores(sequences, metrics::repeat_last_skip_predictions(sequences));
    EXPECT_EQ(repeat_last.sessions, 4000);
    EXPECT_GE(repeat_last.mean_average_accuracy, 0.50);
    EXPECT_LE(repeat_last.mean_average_accuracy, 0.60);
    EXPECT_GE(repeat_last.first_prediction_accuracy, 0.60);
    // Random guessing: about 0.34 AA, clearly below.
    Tensor coin = Tensor::zeros({sequences.sessions(), sequences.max_steps()}, DType::f32);
    float* c = coin.data<float>();
    uint64_t state = 12345;
    for (int64_t i = 0; i < coin.numel(); ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        c[i] = (state >> 63) ? 1.0f : 0.0f;
    }
    const auto random_guess = metrics::session_scores(sequences, coin);
    EXPECT_NEAR(random_guess.mean_average_accuracy, 0.34, 0.03);
    EXPECT_GT(repeat_last.mean_average_accuracy, random_guess.mean_average_accuracy + 0.1);
}

// A plain logistic regression on the per-row session features, fit on 80% of
// the sessions: if the generator's propensity and taste signal is real, it
// beats "repeat last" on the held-out sessions.
TEST_F(GeneratedData, HistoryAggregatesBeatRepeatLast) {
    const TabularDataset rows = build_session_rows(*data_);
    const Split split = session_split(data_->log.num_sessions(), 0.2, 42);
    const TabularDataset train = take_rows(rows, rows_of_sessions(rows, split.train));
    const TabularDataset test = take_rows(rows, rows_of_sessions(rows, split.test));
    const int64_t width = rows.num_features();
    // Standardise with the training rows; NaN (no skipped/kept track) becomes 0 plus a missing flag.
    std::vector<double> mean(width, 0.0), scale(width, 1.0);
    const float* xt = train.features.data<float>();
    for (int64_t f = 0; f < width; ++f) {
        double sum = 0, squares = 0;
        int64_t n = 0;
        for (int64_t r = 0; r < train.rows(); ++r) {
            const double v = xt[r * width + f];
            if (std::isnan(v)) continue;
            sum += v;
            squares += v * v;
            ++n;
        }
        mean[f] = sum / n;
        scale[f] = 1.0 / std::sqrt(std::max(squares / n - mean[f] * mean[f], 1e-9));
    }
    auto features = [&](const TabularDataset& d, int64_t r, std::vector<double>& out) {
        const float* x = d.features.data<float>() + r * width;
        for (int64_t f = 0; f < width; ++f) {
            out[f] = std::isnan(x[f]) ? 0.0 : (x[f] - mean[f]) * scale[f];
            out[width + f] = std::isnan(x[f]) ? 1.0 : 0.0;
        }
        out[2 * width] = 1.0;
    };
    std::vector<double> weights(2 * width + 1, 0.0), gradient(weights.size()), v(weights.size());
    const float* yt = train.labels.data<float>();
    for (int epoch = 0; epoch < 60; ++epoch) {
        std::fill(gradient.begin(), gradient.end(), 0.0);
        for (int64_t r = 0; r < train.rows(); ++r) {
            features(train, r, v);
            double z = 0;
            for (size_t k = 0; k < v.size(); ++k) z += weights[k] * v[k];
            const double error = 1.0 / (1.0 + std::exp(-z)) - yt[r];
            for (size_t k = 0; k < v.size(); ++k) gradient[k] += error * v[k];
        }
        for (size_t k = 0; k < v.size(); ++k) weights[k] -= 0.5 * gradient[k] / static_cast<double>(train.rows());
    }
    std::vector<float> scores(static_cast<size_t>(test.rows()));
    for (int64_t r = 0; r < test.rows(); ++r) {
        features(test, r, v);
        double z = 0;
        for (size_t k = 0; k < v.size(); ++k) z += weights[k] * v[k];
        scores[r] = static_cast<float>(1.0 / (1.0 + std::exp(-z)));
    }
    const auto model = metrics::session_scores(test, scores);
    const auto baseline = metrics::session_scores(test, metrics::repeat_last_skip_predictions(test));
    EXPECT_GT(model.mean_average_accuracy, baseline.mean_average_accuracy + 0.02)
        << "model " << model.mean_average_accuracy << " vs repeat-last " << baseline.mean_average_accuracy;
}

TEST(Generator, SameSeedSameDataOtherSeedOtherData) {
    GeneratorOptions options;
    options.sessions = 300;
    options.seed = 5;
    const MssdData a = generate_mssd(options);
    const MssdData b = generate_mssd(options);
    options.seed = 6;
    const MssdData c = generate_mssd(options);
    EXPECT_EQ(a.log.session_ids, b.log.session_ids);
    EXPECT_EQ(a.log.skip_2.to_vector<uint8_t>(), b.log.skip_2.to_vector<uint8_t>());
    EXPECT_EQ(a.tracks.values.to_vector<float>(), b.tracks.values.to_vector<float>());
    EXPECT_NE(a.log.session_ids, c.log.session_ids);
    EXPECT_THROW(generate_mssd(GeneratorOptions{0, 1, 0}), ParamError);
}

TEST(Generator, WrittenFilesReadBackIntoTheSameTables) {
    GeneratorOptions options;
    options.sessions = 200;
    options.seed = 3;
    const std::string dir = test::scratch_path("gen");
    const GeneratedFiles files = write_generated_mssd(options, dir);
    EXPECT_EQ(files.log_path, dir + "/log_0.csv");
    EXPECT_EQ(files.tracks_path, dir + "/tf_0.csv");
    EXPECT_EQ(files.sessions, 200);
    std::ifstream in(files.log_path);
    std::string header, first;
    std::getline(in, header);
    std::getline(in, first);
    std::string expected_header;
    for (const auto& name : session_log_columns()) expected_header += (expected_header.empty() ? "" : ",") + name;
    EXPECT_EQ(header, expected_header);
    EXPECT_TRUE(first.find(",true,") != std::string::npos || first.find(",false,") != std::string::npos) << first;

    const MssdData generated = generate_mssd(options);
    const MssdData read = load_mssd(files.log_path, files.tracks_path);
    EXPECT_EQ(read.log.rows, files.rows);
    EXPECT_EQ(read.tracks.rows(), files.tracks);
    EXPECT_EQ(read.log.session_ids, generated.log.session_ids);
    EXPECT_EQ(read.log.track_ids, generated.log.track_ids);
    EXPECT_EQ(read.log.track.to_vector<int32_t>(), generated.log.track.to_vector<int32_t>());
    EXPECT_EQ(read.track_row.to_vector<int32_t>(), generated.track_row.to_vector<int32_t>());
    EXPECT_EQ(read.log.skip_2.to_vector<uint8_t>(), generated.log.skip_2.to_vector<uint8_t>());
    EXPECT_EQ(read.log.date.to_vector<int32_t>(), generated.log.date.to_vector<int32_t>());
    EXPECT_EQ(read.log.hist_user_behavior_reason_end.to_vector<int32_t>(),
              generated.log.hist_user_behavior_reason_end.to_vector<int32_t>());
    EXPECT_EQ(read.tracks.values.to_vector<float>(), generated.tracks.values.to_vector<float>());
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skipper::data
