// Metrics against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "trainer/metrics/metrics.h"
#include "trainer/metrics/session_metrics.h"

namespace skipper::metrics {
namespace {

TEST(Classification, AccuracyAndConfusionMatrix) {
    const std::vector<float> labels = {1, 0, 1, 1, 0, 0};
    const std::vector<float> scores = {0.9f, 0.2f, 0.4f, 0.5f, 0.7f, 0.1f};
    const ConfusionMatrix m = confusion_matrix(labels, scores);
    EXPECT_EQ(m.true_positive, 2);   // 0.9, 0.5 (>= threshold)
    EXPECT_EQ(m.false_negative, 1);  // 0.4
    EXPECT_EQ(m.false_positive, 1);  // 0.7
    EXPECT_EQ(m.true_negative, 2);
    EXPECT_DOUBLE_EQ(accuracy(labels, scores), 4.0 / 6.0);
    EXPECT_DOUBLE_EQ(m.precision(), 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.recall(), 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.f1(), 2.0 / 3.0);
    EXPECT_TRUE(std::isnan(confusion_matrix(std::vector<float>{0}, std::vector<float>{0.1f}).precision()));
    EXPECT_THROW(accuracy(labels, std::vector<float>{0.5f}), Error);
}

TEST(Classification, RocAucCountsTiesAsHalf) {
    // Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4), (0.8>0.1), (0.4=0.4: half), (0.4>0.1) -> 3.5/4.
    EXPECT_DOUBLE_EQ(roc_auc(std::vector<float>{1, 1, 0, 0}, std::vector<float>{0.8f, 0.4f, 0.4f, 0.1f}), 0.875);
    EXPECT_DOUBLE_EQ(roc_auc(std::vector<float>{0, 1}, std::vector<float>{0.2f, 0.9f}), 1.0);
    EXPECT_DOUBLE_EQ(roc_auc(std::vector<float>{1, 0}, std::vector<float>{0.2f, 0.9f}), 0.0);
    EXPECT_TRUE(std::isnan(roc_auc(std::vector<float>{1, 1}, std::vector<float>{0.2f, 0.9f})));
}

TEST(Classification, LogLossMatchesTheFormulaAndClips) {
    const double want = -(std::log(0.8) + std::log(1.0 - 0.3)) / 2.0;
    EXPECT_NEAR(log_loss(std::vector<float>{1, 0}, std::vector<float>{0.8f, 0.3f}), want, 1e-7);
    EXPECT_NEAR(log_loss(std::vector<float>{1}, std::vector<float>{0.0f}), -std::log(1e-15), 1e-6);
}

TEST(Session, AverageAccuracyByHand) {
    // correct = [1, 0, 1]: A(1)=1, A(3)=2/3 -> (1 + 2/3) / 3.
    EXPECT_DOUBLE_EQ(average_accuracy({true, false, true}), (1.0 + 2.0 / 3.0) / 3.0);
    EXPECT_DOUBLE_EQ(average_accuracy({true, true, true, true}), 1.0);
    EXPECT_DOUBLE_EQ(average_accuracy({false, false}), 0.0);
    // [0, 1, 1, 0]: A(2)=1/2, A(3)=2/3 -> (1/2 + 2/3) / 4.
    EXPECT_DOUBLE_EQ(average_accuracy({false, true, true, false}), (0.5 + 2.0 / 3.0) / 4.0);
}

TEST(Session, PerRowScoresGroupBySessionAndOrderByPosition) {
    // Session 7: positions 6, 7, 8 with correctness [1, 0, 1] (given out of order).
    // Session 2: positions 3, 4 with correctness [0, 1].
    const std::vector<int32_t> session = {7, 2, 7, 2, 7};
    const std::vector<int32_t> position = {8, 4, 6, 3, 7};
    const std::vector<float> labels = {1, 1, 0, 0, 1};
    const std::vector<float> scores = {0.9f, 0.6f, 0.1f, 0.8f, 0.2f};
    const SessionScores s = session_scores(session, position, labels, scores);
    EXPECT_EQ(s.sessions, 2);
    const double aa7 = (1.0 + 2.0 / 3.0) / 3.0;
    const double aa2 = (0.5) / 2.0;
    EXPECT_DOUBLE_EQ(s.mean_average_accuracy, (aa7 + aa2) / 2.0);
    EXPECT_DOUBLE_EQ(s.first_prediction_accuracy, 0.5);
}

data::SequenceDataset two_sessions() {
    // Session 0: length 4, history 2 (skip_2 = 0, 1), predicted labels 1, 0.
    // Session 1: length 3, history 1 (skip_2 = 0), predicted labels 0, 0; one padding step.
    data::SequenceDataset d;
    d.feature_names = {"x"};
    d.inputs = Tensor::zeros({2, 4, 1}, DType::f32);
    d.labels = Tensor::from_vector<float>({0, 1, 1, 0, 0, 0, 0, 0}, {2, 4});
    d.step_mask = Tensor::from_vector<float>({1, 1, 1, 1, 1, 1, 1, 0}, {2, 4});
    d.history_mask = Tensor::from_vector<float>({1, 1, 0, 0, 1, 0, 0, 0}, {2, 4});
    d.predict_mask = Tensor::from_vector<float>({0, 0, 1, 1, 0, 1, 1, 0}, {2, 4});
    d.lengths = {4, 3};
    return d;
}

TEST(Session, SequenceScoresAndRepeatLastBaseline) {
    const data::SequenceDataset d = two_sessions();
    const Tensor repeat = repeat_last_skip_predictions(d);
    EXPECT_EQ(repeat.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0}));
    // Session 0: [1 right, 0 wrong] -> AA 1/2; session 1: [right, right] -> 1.
    const SessionScores s = session_scores(d, repeat);
    EXPECT_EQ(s.sessions, 2);
    EXPECT_DOUBLE_EQ(s.mean_average_accuracy, 0.75);
    EXPECT_DOUBLE_EQ(s.first_prediction_accuracy, 1.0);
    // Scores outside predict_mask do not count.
    Tensor noisy = Tensor::from_vector<float>({1, 1, 0.9f, 0.1f, 1, 0.2f, 0.3f, 1}, {2, 4});
    EXPECT_DOUBLE_EQ(session_scores(d, noisy).mean_average_accuracy, 1.0);
    EXPECT_THROW(session_scores(d, Tensor::zeros({2, 3}, DType::f32)), Error);
}

TEST(Session, PerRowRepeatLastReadsTheFeature) {
    data::TabularDataset rows;
    rows.feature_names = {"position", "history_last_skip_2"};
    rows.features = Tensor::from_vector<float>({6, 1, 7, 0}, {2, 2});
    rows.labels = Tensor::from_vector<float>({1, 1}, {2});
    rows.session_index = {0, 1};
    rows.position = {6, 7};
    EXPECT_EQ(repeat_last_skip_predictions(rows), (std::vector<float>{1, 0}));
    const auto scores = repeat_last_skip_predictions(rows);
    EXPECT_DOUBLE_EQ(session_scores(rows, scores).mean_average_accuracy, 0.5);
    rows.feature_names = {"position", "other"};
    EXPECT_THROW(repeat_last_skip_predictions(rows), Error);
}

}  // namespace
}  // namespace skipper::metrics
