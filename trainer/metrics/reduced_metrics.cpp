#include "trainer/metrics/reduced_metrics.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/collective.h"

namespace skipper::metrics {

ConfusionMatrix reduced_confusion_matrix(std::span<const float> labels, std::span<const float> scores) {
    const ConfusionMatrix mine = confusion_matrix(labels, scores);
    if (collective::size() == 1) return mine;
    std::array<int64_t, 4> counts = {mine.true_negative, mine.false_positive, mine.false_negative, mine.true_positive};
    collective::allreduce_sum(std::span(counts));
    return {counts[0], counts[1], counts[2], counts[3]};
}

double reduced_roc_auc(std::span<const float> labels, std::span<const float> scores) {
    if (collective::size() == 1) return roc_auc(labels, scores);
    // Exact: the AUC ranks every score against every other, so rank 0 takes
    // them all (8 bytes a row) and sends the figure back.
    std::vector<uint8_t> mine(labels.size_bytes() + scores.size_bytes());
    std::memcpy(mine.data(), labels.data(), labels.size_bytes());
    std::memcpy(mine.data() + labels.size_bytes(), scores.data(), scores.size_bytes());
    const auto parts = collective::gather(mine);
    double auc = 0.0;
    if (collective::is_root()) {
        std::vector<float> all_labels, all_scores;
        for (const auto& part : parts) {
            const size_t rows = part.size() / (2 * sizeof(float));
            const auto* values = reinterpret_cast<const float*>(part.data());
            all_labels.insert(all_labels.end(), values, values + rows);
            all_scores.insert(all_scores.end(), values + rows, values + 2 * rows);
        }
        auc = roc_auc(all_labels, all_scores);
    }
    std::vector<uint8_t> result(sizeof auc);
    std::memcpy(result.data(), &auc, sizeof auc);
    collective::broadcast(result);
    std::memcpy(&auc, result.data(), sizeof auc);
    return auc;
}

double reduced_log_loss(std::span<const float> labels, std::span<const float> scores) {
    if (collective::size() == 1) return log_loss(labels, scores);
    const auto rows = static_cast<double>(labels.size());
    std::array<double, 2> sums = {labels.empty() ? 0.0 : log_loss(labels, scores) * rows, rows};
    collective::allreduce_sum(std::span(sums));
    return sums[1] == 0.0 ? std::numeric_limits<double>::quiet_NaN() : sums[0] / sums[1];
}

SessionScores reduced_session_scores(const SessionScores& mine) {
    if (collective::size() == 1) return mine;
    const auto sessions = static_cast<double>(mine.sessions);
    std::array<double, 2> sums = {mine.mean_average_accuracy * sessions,
                                  mine.first_prediction_accuracy * sessions};
    std::array<int64_t, 2> counts = {std::llround(sums[1]), mine.sessions};
    collective::allreduce_sum(std::span(sums).first(1));
    collective::allreduce_sum(std::span(counts));
    SessionScores all;
    all.sessions = counts[1];
    if (all.sessions > 0) {
        all.mean_average_accuracy = sums[0] / static_cast<double>(all.sessions);
        all.first_prediction_accuracy = static_cast<double>(counts[0]) / static_cast<double>(all.sessions);
    }
    return all;
}

}  // namespace skipper::metrics
