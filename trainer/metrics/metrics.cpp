#include "trainer/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "engine/error.h"

namespace skipper::metrics {

namespace {

void check_sizes(const char* metric, std::span<const float> labels, std::span<const float> scores) {
    if (labels.size() != scores.size())
        throw Error(std::string(metric) + ": " + std::to_string(labels.size()) + " labels but " +
                    std::to_string(scores.size()) + " scores");
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double accuracy(std::span<const float> labels, std::span<const float> scores, double threshold) {
    return confusion_matrix(labels, scores, threshold).accuracy();
}

double roc_auc(std::span<const float> labels, std::span<const float> scores) {
    check_sizes("roc_auc", labels, scores);
    const size_t n = labels.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    // Mann-Whitney U: sum of the positives' ranks, tied scores sharing their mean rank.
    double positive_rank_sum = 0.0;
    int64_t positives = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int64_t tied_positives = 0;
        while (j < n && scores[order[j]] == scores[order[i]]) {
            tied_positives += labels[order[j]] > 0.5f ? 1 : 0;
            ++j;
        }
        const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1..j
        positive_rank_sum += mean_rank * static_cast<double>(tied_positives);
        positives += tied_positives;
        i = j;
    }
    const auto negatives = static_cast<int64_t>(n) - positives;
    if (positives == 0 || negatives == 0) return kNaN;
    const double u = positive_rank_sum - 0.5 * static_cast<double>(positives) * static_cast<double>(positives + 1);
    return u / (static_cast<double>(positives) * static_cast<double>(negatives));
}

double log_loss(std::span<const float> labels, std::span<const float> scores, double eps) {
    check_sizes("log_loss", labels, scores);
    if (labels.empty()) return kNaN;
    double total = 0.0;
    for (size_t i = 0; i < labels.size(); ++i) {
        const double p = std::clamp(static_cast<double>(scores[i]), eps, 1.0 - eps);
        total -= labels[i] > 0.5f ? std::log(p) : std::log1p(-p);
    }
    return total / static_cast<double>(labels.size());
}

double ConfusionMatrix::accuracy() const {
    return total() == 0 ? kNaN : static_cast<double>(true_positive + true_negative) / static_cast<double>(total());
}

double ConfusionMatrix::precision() const {
    const int64_t predicted = true_positive + false_positive;
    return predicted == 0 ? kNaN : static_cast<double>(true_positive) / static_cast<double>(predicted);
}

double ConfusionMatrix::recall() const {
    const int64_t actual = true_positive + false_negative;
    return actual == 0 ? kNaN : static_cast<double>(true_positive) / static_cast<double>(actual);
}

double ConfusionMatrix::f1() const {
    const double p = precision(), r = recall();
    if (std::isnan(p) || std::isnan(r)) return kNaN;
    return p + r > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
}

ConfusionMatrix confusion_matrix(std::span<const float> labels, std::span<const float> scores, double threshold) {
    check_sizes("confusion_matrix", labels, scores);
    ConfusionMatrix m;
    for (size_t i = 0; i < labels.size(); ++i) {
        const bool actual = labels[i] > 0.5f;
        const bool predicted = scores[i] >= threshold;
        if (actual) (predicted ? m.true_positive : m.false_negative)++;
        else (predicted ? m.false_positive : m.true_negative)++;
    }
    return m;
}

}  // namespace skipper::metrics
