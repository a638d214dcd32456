// One training run as the command line sees it: a learner (gbdt or lstm) on a
// task (the seed task, with or without its leaking column, or the session
// task), the data built and split for it, the model trained with progress, and
// its scores on the held-out part. `skipper train`, `eval`, `run` and `report`
// all go through here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/params.h"
#include "trainer/data/dataset.h"
#include "trainer/data/mssd.h"
#include "trainer/data_parallel.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/lstm/lstm.h"
#include "trainer/metrics/metrics.h"
#include "trainer/training_log.h"

namespace skipper::tools {

enum class Task { seed, session };
Task parse_task(const std::string& text);  // "seed" | "session"; ParamError otherwise
const char* task_name(Task task);

struct TaskChoice {
    Task task = Task::seed;
    bool with_leak = true;  // seed task only
    std::string label() const;  // "seed task, with the leak", ...
};

// The held-out split: 80/20 by row for the seed task, by session for the
// session task, both seeded.
struct SplitOptions {
    double test_fraction = 0.2;
    int64_t seed = 42;
};

// A task's data, built from MSSD tables and split. The sequence form is built
// only when an lstm session model needs it.
struct TaskData {
    TaskChoice choice;
    data::TabularDataset train_rows, test_rows;
    data::SequenceDataset train_sequences, test_sequences;
    bool has_sequences = false;
    // Data-parallel with each rank holding a share of the sessions
    // (build_shared_sequences): the sequences are this rank's, and these are
    // where its training sessions stand in one process's training set.
    std::optional<ItemPlaces> train_places;
};

// `warn` receives the warning naming the leaking column.
TaskData build_task_data(const data::MssdData& mssd, const TaskChoice& choice, bool need_sequences,
                         const SplitOptions& split, const std::function<void(const std::string&)>& warn);

// Held-out scores: accuracy, auc, logloss for every task; for the session task
// also aa (mean average accuracy) and first_accuracy, and the same two for the
// repeat-last baseline (baseline_aa, baseline_first_accuracy).
struct Scores {
    std::map<std::string, double> metrics;
    metrics::ConfusionMatrix confusion;
};

using AnyModel = std::variant<GbdtModel, LstmModel>;

struct TrainedRun {
    std::string learner;
    TaskChoice choice;
    AnyModel model;
    TrainingLog log;
    double seconds = 0.0;
    Scores test;
};

// The lstm's parameters for a task: arch follows the task; the session task
// defaults to the encoder-decoder with issue 15's settings, which the user's
// own values override.
// The session task's sequences for the LSTM when each rank holds a share of
// the sessions (`mssd` and its session_keys: tools/data_source.h,
// load_data_share): the split is one process's, drawn on every rank's
// sessions, and each part keeps this rank's sessions of it, in one process's
// order.
TaskData build_shared_sequences(const data::MssdData& mssd, const std::vector<uint64_t>& session_keys,
                                const SplitOptions& split);

LstmParams lstm_params_for(const TaskChoice& choice, const KeyValues& learner_params);

// The learner's parameters as key=value pairs; the learner's table validates
// them (ParamError names a bad one). For lstm, arch follows the task.
TrainedRun train_and_score(const std::string& learner, const TaskData& data, const KeyValues& learner_params,
                           const ProgressCallback& progress);

Scores score_model(const AnyModel& model, const TaskData& data);
// The held-out scores of rows spread over the ranks of a data-parallel job:
// `rows` are this rank's (whole sessions); the metrics are reduced over the
// ranks. score_model, whose every rank holds every row, scores its share here.
Scores score_rank_rows(const AnyModel& model, const data::TabularDataset& rows, bool session_task);
// The held-out scores of given per-row probabilities for session-task (or
// seed-task) rows: what score_model reports for a row model.
Scores score_row_probabilities(const data::TabularDataset& rows, std::span<const float> probabilities,
                               bool session_task);

void save_model(const AnyModel& model, const std::string& path);
// Reads either learner's model file (the metadata names the learner).
AnyModel load_any_model(const std::string& path);
std::string learner_of(const AnyModel& model);
// The task a model was trained for, read from its features (seed or session,
// with the leaking column or without).
TaskChoice task_of(const AnyModel& model);
const std::vector<std::string>& feature_names_of(const AnyModel& model);

// Per-row probabilities for `data`'s test part. For the lstm session model,
// one per predicted position, in session order.
std::vector<double> predict_test(const AnyModel& model, const TaskData& data);

}  // namespace skipper::tools
