// Evaluation metrics, named and defined as users of LightGBM, XGBoost and
// scikit-learn know them. Labels are 0/1; scores are probabilities of the
// positive class (a prediction is positive when its score >= threshold).
#pragma once

#include <cstdint>
#include <span>

namespace skipper::metrics {

double accuracy(std::span<const float> labels, std::span<const float> scores, double threshold = 0.5);

// Area under the ROC curve; tied scores count one half (the Mann-Whitney
// statistic, as sklearn.metrics.roc_auc_score). NaN when one class is absent.
double roc_auc(std::span<const float> labels, std::span<const float> scores);

// Mean binary cross-entropy, with probabilities clipped to [eps, 1 - eps].
double log_loss(std::span<const float> labels, std::span<const float> scores, double eps = 1e-15);

struct ConfusionMatrix {
    int64_t true_negative = 0, false_positive = 0;
    int64_t false_negative = 0, true_positive = 0;

    int64_t total() const { return true_negative + false_positive + false_negative + true_positive; }
    double accuracy() const;
    double precision() const;  // NaN with no positive prediction
    double recall() const;     // NaN with no positive label
    double f1() const;
};

ConfusionMatrix confusion_matrix(std::span<const float> labels, std::span<const float> scores,
                                 double threshold = 0.5);

}  // namespace skipper::metrics
