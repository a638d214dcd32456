#include "trainer/metrics/session_metrics.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "engine/error.h"

namespace skipper::metrics {

namespace {

// Adds one session's predictions (correctness in position order) to running sums.
struct SessionSums {
    double average_accuracy = 0.0;
    int64_t first_right = 0;
    int64_t sessions = 0;

    void add(const std::vector<bool>& correct) {
        if (correct.empty()) return;
        average_accuracy += metrics::average_accuracy(correct);
        first_right += correct.front() ? 1 : 0;
        ++sessions;
    }
    SessionScores scores() const {
        SessionScores out;
        out.sessions = sessions;
        if (sessions > 0) {
            out.mean_average_accuracy = average_accuracy / static_cast<double>(sessions);
            out.first_prediction_accuracy = static_cast<double>(first_right) / static_cast<double>(sessions);
        }
        return out;
    }
};

}  // namespace

double average_accuracy(const std::vector<bool>& correct) {
    if (correct.empty()) return 0.0;
    double sum = 0.0;
    int64_t right_so_far = 0;
    for (size_t i = 0; i < correct.size(); ++i) {
        if (!correct[i]) continue;
        ++right_so_far;
        sum += static_cast<double>(right_so_far) / static_cast<double>(i + 1);
    }
    return sum / static_cast<double>(correct.size());
}

SessionScores session_scores(std::span<const int32_t> session_index, std::span<const int32_t> position,
                             std::span<const float> labels, std::span<const float> scores) {
    const size_t n = labels.size();
    if (session_index.size() != n || position.size() != n || scores.size() != n)
        throw Error("session_scores: " + std::to_string(session_index.size()) + " session indices, " +
                    std::to_string(position.size()) + " positions, " + std::to_string(n) + " labels and " +
                    std::to_string(scores.size()) + " scores; all must be equal");
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return session_index[a] != session_index[b] ? session_index[a] < session_index[b] : position[a] < position[b];
    });
    SessionSums sums;
    std::vector<bool> correct;
    for (size_t i = 0; i < n; ++i) {
        const size_t r = order[i];
        if (i > 0 && session_index[r] != session_index[order[i - 1]]) {
            sums.add(correct);
            correct.clear();
        }
        correct.push_back((scores[r] >= 0.5f) == (labels[r] > 0.5f));
    }
    sums.add(correct);
    return sums.scores();
}

SessionScores session_scores(const data::TabularDataset& rows, std::span<const float> scores) {
    if (static_cast<int64_t>(rows.session_index.size()) != rows.rows() ||
        static_cast<int64_t>(rows.position.size()) != rows.rows())
        throw Error("session_scores: the dataset has no session_index/position per row (not a session-task dataset)");
    return session_scores(rows.session_index, rows.position,
                          std::span<const float>(rows.labels.data<float>(), static_cast<size_t>(rows.rows())), scores);
}

SessionScores session_scores(const data::SequenceDataset& data, const Tensor& scores) {
    const int64_t sessions = data.sessions(), steps = data.max_steps();
    if (scores.device() != Device::cpu || scores.dtype() != DType::f32 || scores.dim() != 2 ||
        scores.size(0) != sessions || scores.size(1) != steps)
        throw Error("session_scores: expected host f32 scores of shape [" + std::to_string(sessions) + ", " +
                    std::to_string(steps) + "], got " + scores.describe());
    const float* score = scores.data<float>();
    const float* label = data.labels.data<float>();
    const float* predict = data.predict_mask.data<float>();
    SessionSums sums;
    std::vector<bool> correct;
    for (int64_t s = 0; s < sessions; ++s) {
        correct.clear();
        for (int64_t t = 0; t < steps; ++t) {
            const int64_t i = s * steps + t;
            if (predict[i] > 0.5f) correct.push_back((score[i] >= 0.5f) == (label[i] > 0.5f));
        }
        sums.add(correct);
    }
    return sums.scores();
}

std::vector<float> repeat_last_skip_predictions(const data::TabularDataset& rows) {
    const auto it = std::find(rows.feature_names.begin(), rows.feature_names.end(), "history_last_skip_2");
    if (it == rows.feature_names.end())
        throw Error("repeat_last_skip_predictions: the dataset has no 'history_last_skip_2' feature "
                    "(build it with data::build_session_rows)");
    const auto column = it - rows.feature_names.begin();
    const int64_t n = rows.rows(), width = rows.num_features();
    const float* features = rows.features.data<float>();
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) out[static_cast<size_t>(r)] = features[r * width + column];
    return out;
}

Tensor repeat_last_skip_predictions(const data::SequenceDataset& data) {
    const int64_t sessions = data.sessions(), steps = data.max_steps();
    Tensor out = Tensor::zeros({sessions, steps}, DType::f32);
    float* prediction = out.data<float>();
    const float* label = data.labels.data<float>();
    const float* history = data.history_mask.data<float>();
    const float* predict = data.predict_mask.data<float>();
    for (int64_t s = 0; s < sessions; ++s) {
        float last = 0.0f;
        for (int64_t t = 0; t < steps; ++t) {
            const int64_t i = s * steps + t;
            if (history[i] > 0.5f) last = label[i];
            if (predict[i] > 0.5f) prediction[i] = last;
        }
    }
    return out;
}

}  // namespace skipper::metrics
