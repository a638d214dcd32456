// Session-task metrics (WSDM Cup 2019) and the repeat-last baseline.
//
// Per session with T predicted tracks, predictions in position order:
//   AA = (1/T) * sum_i A(i) * L(i),
// A(i) the accuracy of the first i predictions, L(i) = 1 if prediction i is
// right. Mean AA averages AA over sessions; first-prediction accuracy is the
// share of sessions whose first predicted track is right. Scores are
// probabilities, thresholded at 0.5.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/tensor.h"
#include "trainer/data/dataset.h"

namespace skipper::metrics {

struct SessionScores {
    double mean_average_accuracy = 0.0;
    double first_prediction_accuracy = 0.0;
    int64_t sessions = 0;
};

// AA of one session's predictions, given correctness in position order.
double average_accuracy(const std::vector<bool>& correct);

// From per-row predictions: rows are grouped by session_index and ordered by
// position (rows may come in any order).
SessionScores session_scores(std::span<const int32_t> session_index, std::span<const int32_t> position,
                             std::span<const float> labels, std::span<const float> scores);
// The same for a per-row session dataset and one score per row.
SessionScores session_scores(const data::TabularDataset& rows, std::span<const float> scores);

// From sequence-form predictions: scores f32 [sessions, max_steps] (host),
// scored where data.predict_mask is 1.
SessionScores session_scores(const data::SequenceDataset& data, const Tensor& scores);

// The "repeat the last history skip_2" baseline: every predicted position gets
// the skip_2 of the session's last history track.
// Per-row form: one score per row, read from the "history_last_skip_2" feature.
std::vector<float> repeat_last_skip_predictions(const data::TabularDataset& rows);
// Sequence form: f32 [sessions, max_steps], 0 outside predict_mask.
Tensor repeat_last_skip_predictions(const data::SequenceDataset& data);

}  // namespace skipper::metrics
