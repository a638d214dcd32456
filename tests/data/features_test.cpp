// Feature builders and splits on small generated and hand-made data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/ops.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/split.h"
#include "trainer/metrics/session_metrics.h"

namespace skipper::data {
namespace {

MssdData small_data(int64_t sessions = 60) {
    GeneratorOptions options;
    options.sessions = sessions;
    options.seed = 21;
    return generate_mssd(options);
}

int64_t feature_index(const std::vector<std::string>& names, const std::string& name) {
    const auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : it - names.begin();
}

TEST(SeedFeatures, ThirteenFeaturesInDesignOrderWithLeakWarning) {
    const MssdData data = small_data();
    std::vector<std::string> warnings;
    SeedFeatureOptions options;
    options.warn = [&](const std::string& m) { warnings.push_back(m); };
    const TabularDataset d = build_seed_features(data, options);
    const std::vector<std::string> want = {
        "context_switch", "is_paused_before_play", "hist_user_behavior_is_shuffle", "hist_user_behavior_n_seekfwd",
        "hist_user_behavior_n_seekback", "released_from", "premium", "session_length", "session_position",
        "hist_user_behavior_reason_start", "hist_user_behavior_reason_end", "hour_of_day", "context_type"};
    EXPECT_EQ(d.feature_names, want);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("hist_user_behavior_reason_end"), std::string::npos);
    EXPECT_EQ(d.rows(), data.log.rows);
    EXPECT_EQ(d.categorical, (std::vector<bool>{false, false, false, false, false, false, false, false, false, true,
                                                true, false, true}));
    // Label encoding in sorted order, as LabelEncoder.
    EXPECT_EQ(d.category_names[10], (std::vector<std::string>{"backbtn", "endplay", "fwdbtn", "logout", "remote",
                                                              "trackdone"}));
    const auto x = d.features.to_vector<float>();
    const auto y = d.labels.to_vector<float>();
    const auto not_skipped = data.log.not_skipped.to_vector<uint8_t>();
    const auto no_pause = data.log.no_pause_before_play.to_vector<uint8_t>();
    const auto end = data.log.hist_user_behavior_reason_end.to_vector<int32_t>();
    const auto track_row = data.track_row.to_vector<int32_t>();
    const auto tracks = data.tracks.values.to_vector<float>();
    const auto columns = static_cast<size_t>(data.tracks.values.size(1));
    for (int64_t i = 0; i < d.rows(); ++i) {
        const float* row = x.data() + i * 13;
        ASSERT_EQ(y[i], not_skipped[i] ? 0.0f : 1.0f);
        ASSERT_EQ(row[1], no_pause[i] ? 0.0f : 1.0f);
        ASSERT_EQ(row[5], 2022.0f - tracks[track_row[i] * columns + 1]);
        ASSERT_EQ(d.category_names[10][static_cast<size_t>(row[10])], data.log.reason_end_names[end[i]]);
    }
}

TEST(SeedFeatures, WithoutLeakDropsTheColumnSilently) {
    const MssdData data = small_data();
    int warnings = 0;
    SeedFeatureOptions options;
    options.with_leak = false;
    options.warn = [&](const std::string&) { ++warnings; };
    const TabularDataset d = build_seed_features(data, options);
    EXPECT_EQ(d.num_features(), 12);
    EXPECT_EQ(feature_index(d.feature_names, kLeakingColumn), -1);
    EXPECT_EQ(warnings, 0);
}

TEST(SessionRows, OneRowPerPredictedPositionWithHistoryAggregates) {
    const MssdData data = small_data();
    const TabularDataset rows = build_session_rows(data);
    const auto lengths = data.log.session_length.to_vector<int32_t>();
    const auto positions = data.log.session_position.to_vector<int32_t>();
    const auto skip_2 = data.log.skip_2.to_vector<uint8_t>();
    int64_t expected = 0;
    for (size_t i = 0; i < lengths.size(); ++i) expected += positions[i] > lengths[i] / 2;
    ASSERT_EQ(rows.rows(), expected);
    ASSERT_EQ(rows.session_index.size(), static_cast<size_t>(expected));
    const int64_t width = rows.num_features();
    const int64_t rate = feature_index(rows.feature_names, "history_skip_2_rate");
    const int64_t last = feature_index(rows.feature_names, "history_last_skip_2");
    const int64_t position = feature_index(rows.feature_names, "position");
    ASSERT_GE(rate, 0);
    ASSERT_GE(last, 0);
    const auto x = rows.features.to_vector<float>();
    // The generator writes sessions in order, positions 1..L: recompute by hand.
    std::vector<int64_t> first_row_of_session;
    for (size_t i = 0; i < positions.size(); ++i)
        if (positions[i] == 1) first_row_of_session.push_back(static_cast<int64_t>(i));
    for (int64_t r = 0; r < rows.rows(); ++r) {
        const int64_t s = rows.session_index[r];
        const int64_t first = first_row_of_session[s];
        const int32_t L = lengths[first], h = L / 2;
        double history_rate = 0;
        for (int32_t k = 0; k < h; ++k) history_rate += skip_2[first + k];
        ASSERT_GT(rows.position[r], h);
        ASSERT_EQ(x[r * width + position], static_cast<float>(rows.position[r]));
        ASSERT_FLOAT_EQ(x[r * width + rate], static_cast<float>(history_rate / h));
        ASSERT_EQ(x[r * width + last], skip_2[first + h - 1]);
        ASSERT_EQ(rows.labels.to_vector<float>()[r], skip_2[first + rows.position[r] - 1]);
    }
}

TEST(SessionSequences, EachStepHoldsItsTracksHashedId) {
    const MssdData data = small_data();
    const SequenceDataset seq = build_session_sequences(data);
    ASSERT_EQ(seq.track_hash.shape(), (Shape{seq.sessions(), 20}));
    const auto hash = seq.track_hash.to_vector<int32_t>();
    const auto* session = data.log.session.data<int32_t>();
    const auto* position = data.log.session_position.data<int32_t>();
    const auto* track = data.log.track.data<int32_t>();
    std::vector<int32_t> expected(hash.size(), -1);  // padding
    for (int64_t i = 0; i < data.log.rows; ++i)
        expected[static_cast<size_t>(session[i] * 20 + position[i] - 1)] =
            ops::key_hash(data.log.track_ids[static_cast<size_t>(track[i])]);
    EXPECT_EQ(hash, expected);
    std::set<int32_t> distinct;
    for (int32_t v : hash) {
        ASSERT_GE(v, -1);
        distinct.insert(v);
    }
    EXPECT_GT(distinct.size(), 20u);  // tracks differ, so their hashes do
    // take_sessions carries it with the session.
    const SequenceDataset two = take_sessions(seq, {3, 1});
    const auto taken = two.track_hash.to_vector<int32_t>();
    EXPECT_TRUE(std::equal(taken.begin(), taken.begin() + 20, hash.begin() + 3 * 20));
    EXPECT_TRUE(std::equal(taken.begin() + 20, taken.end(), hash.begin() + 20));
}

TEST(SessionSequences, MasksAndInputsFollowTheProtocol) {
    const MssdData data = small_data();
    const SequenceDataset seq = build_session_sequences(data);
    ASSERT_EQ(seq.sessions(), data.log.num_sessions());
    ASSERT_EQ(seq.max_steps(), 20);
    const int64_t width = seq.num_features();
    const int64_t skip_2 = feature_index(seq.feature_names, "skip_2");
    const int64_t to_predict = feature_index(seq.feature_names, "to_predict");
    const int64_t is_history = feature_index(seq.feature_names, "is_history");
    ASSERT_GE(skip_2, 0);
    ASSERT_GE(to_predict, 0);
    const auto x = seq.inputs.to_vector<float>();
    const auto y = seq.labels.to_vector<float>();
    const auto step = seq.step_mask.to_vector<float>();
    const auto history = seq.history_mask.to_vector<float>();
    const auto predict = seq.predict_mask.to_vector<float>();
    for (int64_t s = 0; s < seq.sessions(); ++s) {
        const int32_t L = seq.lengths[s], h = L / 2;
        for (int64_t t = 0; t < 20; ++t) {
            const int64_t m = s * 20 + t;
            const float* v = x.data() + m * width;
            ASSERT_EQ(step[m], t < L ? 1.0f : 0.0f);
            ASSERT_EQ(history[m], t < h ? 1.0f : 0.0f);
            ASSERT_EQ(predict[m], t >= h && t < L ? 1.0f : 0.0f);
            if (t < h) {
                ASSERT_EQ(v[skip_2], y[m]);  // history steps carry their own skip_2
                ASSERT_EQ(v[is_history], 1.0f);
            } else {
                // Steps to predict (and padding) hold no log column: only track features and flags.
                for (int64_t f = feature_index(seq.feature_names, "skip_1"); f < is_history; ++f) ASSERT_EQ(v[f], 0.0f);
                ASSERT_EQ(v[to_predict], t < L ? 1.0f : 0.0f);
            }
            if (t >= L) {
                for (int64_t f = 0; f < width; ++f) ASSERT_EQ(v[f], 0.0f);
                ASSERT_EQ(y[m], 0.0f);
            }
        }
    }
    // Both forms number sessions alike: the per-row repeat-last baseline scores the same.
    const TabularDataset rows = build_session_rows(data);
    const auto a = metrics::session_scores(seq, metrics::repeat_last_skip_predictions(seq));
    const auto b = metrics::session_scores(rows, metrics::repeat_last_skip_predictions(rows));
    EXPECT_DOUBLE_EQ(a.mean_average_accuracy, b.mean_average_accuracy);
    EXPECT_DOUBLE_EQ(a.first_prediction_accuracy, b.first_prediction_accuracy);
    // The history-distance features of a step to predict are the per-row
    // form's, so they depend on the history alone (NaN where it has no
    // skipped or no kept track).
    const auto row_x = rows.features.to_vector<float>();
    const int64_t row_width = rows.num_features();
    size_t compared = 0;
    for (const char* name : {"distance_to_skipped_mean", "distance_to_kept_mean", "distance_difference",
                             "acoustic_distance_to_skipped_mean", "acoustic_distance_to_kept_mean",
                             "acoustic_distance_difference"}) {
        const int64_t in_seq = feature_index(seq.feature_names, name), in_rows = feature_index(rows.feature_names, name);
        ASSERT_GE(in_seq, 0) << name;
        ASSERT_GE(in_rows, 0) << name;
        for (int64_t r = 0; r < rows.rows(); ++r) {
            const float want = row_x[static_cast<size_t>(r * row_width + in_rows)];
            const int64_t m = int64_t{rows.session_index[static_cast<size_t>(r)]} * 20 + rows.position[static_cast<size_t>(r)] - 1;
            const float got = x[static_cast<size_t>(m * width + in_seq)];
            if (std::isnan(want)) ASSERT_TRUE(std::isnan(got)) << name;
            else ASSERT_EQ(got, want) << name;
            ++compared;
        }
    }
    EXPECT_GT(compared, 100u);
}

TEST(SessionFeatures, IncompleteSessionIsAnErrorNamingIt) {
    // The real fragment has no position 1 and no second half.
    const std::string path =
        std::string(SKIPPER_SHARED_DATA_DIR) + "/mssd/partial/mssd_testset_prehistory_fragment_169sessions.csv";
    MssdData data;
    data.log = read_session_log(path);
    data.tracks.values = Tensor::zeros({1, static_cast<int64_t>(track_feature_columns().size())}, DType::f32);
    data.tracks.track_ids = {"t"};
    data.track_row = Tensor::zeros({data.log.rows}, DType::i32);
    try {
        build_session_rows(data);
        ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.line(), 2);
        EXPECT_NE(std::string(e.what()).find("session '1_00002aa7-c6a1-4667-85c9-e873b4ef9ecc' is not whole"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(build_session_sequences(data), DataError);
    EXPECT_THROW(build_session_sequences(small_data(5), 12), DataError);  // max_steps below a length
}

TEST(Splits, DeterministicDisjointAndSized) {
    const Split a = random_split(1000, 0.2, 42);
    const Split b = random_split(1000, 0.2, 42);
    const Split c = random_split(1000, 0.2, 43);
    EXPECT_EQ(a.test, b.test);
    EXPECT_NE(a.test, c.test);
    EXPECT_EQ(a.test.size(), 200u);
    EXPECT_EQ(a.train.size(), 800u);
    std::set<int64_t> all(a.train.begin(), a.train.end());
    all.insert(a.test.begin(), a.test.end());
    EXPECT_EQ(all.size(), 1000u);
    EXPECT_TRUE(std::is_sorted(a.test.begin(), a.test.end()));
    EXPECT_THROW(random_split(10, 1.5, 1), ParamError);
}

TEST(Splits, SessionSplitKeepsSessionsWhole) {
    const MssdData data = small_data();
    const TabularDataset rows = build_session_rows(data);
    const SequenceDataset seq = build_session_sequences(data);
    const Split split = session_split(data.log.num_sessions(), 0.25, 7);
    const TabularDataset test_rows = take_rows(rows, rows_of_sessions(rows, split.test));
    const SequenceDataset test_seq = take_sessions(seq, split.test);
    const std::set<int64_t> test_sessions(split.test.begin(), split.test.end());
    for (int32_t s : test_rows.session_index) ASSERT_TRUE(test_sessions.count(s));
    EXPECT_EQ(test_seq.sessions(), static_cast<int64_t>(split.test.size()));
    int64_t predicted = 0;
    for (float v : test_seq.predict_mask.to_vector<float>()) predicted += v > 0.5f;
    EXPECT_EQ(predicted, test_rows.rows());
    // The seed split works on rows.
    const TabularDataset seed = build_seed_features(data, {true, [](const std::string&) {}});
    const Split row_split = random_row_split(seed);
    EXPECT_EQ(static_cast<int64_t>(row_split.test.size()), std::llround(seed.rows() * 0.2));
    const TabularDataset seed_test = take_rows(seed, row_split.test);
    EXPECT_EQ(seed_test.rows(), static_cast<int64_t>(row_split.test.size()));
    EXPECT_EQ(seed_test.features.to_vector<float>()[0], seed.features.to_vector<float>()[row_split.test[0] * 13]);
}

}  // namespace
}  // namespace skipper::data
