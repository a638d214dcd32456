// What a learner reports while it trains: one record per iteration (GBDT) or
// epoch (LSTM). The CLI turns it into a progress bar or log lines, the report
// into training curves, --metrics-out into JSON.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace skipper {

struct IterationRecord {
    int64_t iteration = 0;  // 1-based
    int64_t total = 0;      // planned iterations (or epochs)
    double seconds = 0.0;   // wall time since training started
    // e.g. "train_logloss", "valid_logloss", "valid_auc", "valid_aa"
    std::map<std::string, double> metrics;
};

using ProgressCallback = std::function<void(const IterationRecord&)>;

struct TrainingLog {
    std::vector<IterationRecord> records;
    int64_t best_iteration = 0;  // 1-based; 0 when no validation set
    std::string stopped_reason;  // "completed" or "early stopping at ..."
    // Wall seconds per phase of training, where the learner reports them
    // (GBDT: bins, gradients, histograms, partition, splits, scores, metrics).
    std::map<std::string, double> phase_seconds;
};

}  // namespace skipper
