// `skipper report`: one self-contained HTML file (inline CSS and SVG, no
// scripts, no network) with the original analysis's exploratory charts, the
// training curves, feature importance, the confusion matrix and a results table.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainer/data/mssd.h"
#include "trainer/metrics/metrics.h"
#include "trainer/training_log.h"

namespace skipper::tools {

// One line of a results table: a learner's held-out scores on a task.
struct ResultRow {
    std::string task;     // "seed task, with the leak", ...
    std::string learner;  // "gbdt", "lstm", "repeat-last baseline"
    std::map<std::string, double> metrics;
    double seconds = 0.0;  // training wall time (0 for a baseline)
};

struct TrainingCurves {
    std::string title;  // "gbdt, seed task without the leak"
    std::string unit;   // "iteration" or "epoch"
    TrainingLog log;
};

struct ReportInputs {
    std::string data_description;
    const data::MssdData* data = nullptr;  // the exploratory charts need the joined tables
    std::vector<TrainingCurves> curves;
    std::string importance_title;
    std::vector<std::string> importance_names;
    std::vector<double> importance_values;
    std::string confusion_title;
    std::optional<metrics::ConfusionMatrix> confusion;
    std::vector<ResultRow> results;
    std::vector<std::string> warnings;
};

// The ids of the charts every report holds, in page order (the tests check each).
const std::vector<std::string>& report_chart_ids();

std::string render_report(const ReportInputs& inputs);

}  // namespace skipper::tools
