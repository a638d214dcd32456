// The metrics of metrics.h and session_metrics.h over rows spread across the
// ranks of a data-parallel job (engine/collective.h): each rank passes its own
// rows (whole sessions for the session metrics) and every rank gets the figure
// over all of them. Counts are summed exactly; the AUC is exact (rank 0
// gathers every score and label); log loss and AA are sums of doubles, equal
// to the one-process figure up to rounding. With one process each function
// returns the plain metric.
#pragma once

#include <span>

#include "trainer/metrics/metrics.h"
#include "trainer/metrics/session_metrics.h"

namespace skipper::metrics {

ConfusionMatrix reduced_confusion_matrix(std::span<const float> labels, std::span<const float> scores);
double reduced_roc_auc(std::span<const float> labels, std::span<const float> scores);
double reduced_log_loss(std::span<const float> labels, std::span<const float> scores);
// From this rank's session_scores.
SessionScores reduced_session_scores(const SessionScores& mine);

}  // namespace skipper::metrics
