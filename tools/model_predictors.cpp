// The Predictor implementations over the two learners' model files.
#include <mutex>

#include "engine/error.h"
#include "engine/serialize.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/lstm/lstm.h"
#include "tools/experiment.h"
#include "tools/predictor.h"

namespace skipper::tools {

namespace {

std::vector<FeatureField> fields_of(const std::vector<std::string>& names, const std::vector<bool>& categorical,
                                    const std::vector<std::vector<std::string>>& categories) {
    std::vector<FeatureField> fields;
    for (size_t i = 0; i < names.size(); ++i) {
        FeatureField field{names[i], i < categorical.size() && categorical[i], {}};
        if (field.categorical && i < categories.size()) field.categories = categories[i];
        fields.push_back(std::move(field));
    }
    return fields;
}

void check_value_count(const std::vector<float>& values, int64_t rows, size_t num_fields) {
    if (values.size() != static_cast<size_t>(rows) * num_fields)
        throw Error("expected " + std::to_string(rows) + " rows of " + std::to_string(num_fields) + " values, got " +
                    std::to_string(values.size()) + " values");
}

Tensor rows_tensor(const std::vector<float>& values, int64_t rows, size_t num_fields) {
    check_value_count(values, rows, num_fields);
    return Tensor::from_vector<float>(values, {rows, static_cast<int64_t>(num_fields)});
}

class GbdtPredictor final : public Predictor {
public:
    GbdtPredictor(GbdtModel model, std::string task, std::map<std::string, std::string> metadata)
        : model_(std::move(model)),
          task_(std::move(task)),
          metadata_(std::move(metadata)),
          fields_(fields_of(model_.feature_names(), model_.categorical(), model_.category_names())) {}

    std::string learner() const override { return "gbdt"; }
    std::string task() const override { return task_; }
    bool takes_sessions() const override { return false; }
    const std::vector<FeatureField>& fields() const override { return fields_; }
    std::map<std::string, std::string> metadata() const override { return metadata_; }

    std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const override {
        if (rows == 1) {  // the server's common case: no tensor, no threads
            check_value_count(values, rows, fields_.size());
            return {model_.predict_proba_row(values)};
        }
        return model_.predict_proba(rows_tensor(values, rows, fields_.size()));
    }
    std::vector<double> predict_session(const std::vector<float>&, int64_t, int64_t) const override {
        throw Error("a gbdt model predicts rows, not sessions");
    }

private:
    GbdtModel model_;
    std::string task_;
    std::map<std::string, std::string> metadata_;
    std::vector<FeatureField> fields_;
};

class LstmPredictor final : public Predictor {
public:
    LstmPredictor(LstmModel model, std::string task, std::map<std::string, std::string> metadata)
        : model_(std::move(model)),
          task_(std::move(task)),
          metadata_(std::move(metadata)),
          fields_(fields_of(model_.feature_names(), model_.categorical(), model_.category_names())) {}

    std::string learner() const override { return "lstm"; }
    std::string task() const override { return task_; }
    bool takes_sessions() const override { return is_session_arch(model_.arch()); }
    const std::vector<FeatureField>& fields() const override { return fields_; }
    std::map<std::string, std::string> metadata() const override { return metadata_; }

    std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const override {
        if (takes_sessions()) throw Error("an lstm session model predicts sessions, not rows");
        data::TabularDataset batch;
        batch.feature_names = model_.feature_names();
        batch.categorical = model_.categorical();
        batch.category_names = model_.category_names();
        batch.features = rows_tensor(values, rows, fields_.size());
        batch.labels = Tensor::zeros({rows}, DType::f32);
        // The model's workspaces are shared: one prediction at a time.
        const std::lock_guard lock(mutex_);
        return model_.predict_proba(batch);
    }

    std::vector<double> predict_session(const std::vector<float>& steps, int64_t num_steps,
                                        int64_t history) const override {
        if (!takes_sessions()) throw Error("an lstm seed model predicts rows, not sessions");
        const auto num_features = static_cast<int64_t>(fields_.size());
        check_value_count(steps, num_steps, fields_.size());
        data::SequenceDataset session;
        session.feature_names = model_.feature_names();
        session.inputs = Tensor::from_vector<float>(steps, {1, num_steps, num_features});
        std::vector<float> history_mask(static_cast<size_t>(num_steps), 0.0f);
        std::vector<float> predict_mask(static_cast<size_t>(num_steps), 0.0f);
        for (int64_t t = 0; t < num_steps; ++t) (t < history ? history_mask : predict_mask)[t] = 1.0f;
        session.labels = Tensor::zeros({1, num_steps}, DType::f32);
        session.step_mask = Tensor::from_vector<float>(std::vector<float>(static_cast<size_t>(num_steps), 1.0f),
                                                       {1, num_steps});
        session.history_mask = Tensor::from_vector<float>(history_mask, {1, num_steps});
        session.predict_mask = Tensor::from_vector<float>(predict_mask, {1, num_steps});
        session.lengths = {static_cast<int32_t>(num_steps)};
        std::vector<double> all;
        {
            const std::lock_guard lock(mutex_);
            all = model_.predict_proba(session);
        }
        return std::vector<double>(all.begin() + history, all.begin() + num_steps);
    }

private:
    LstmModel model_;
    std::string task_;
    std::map<std::string, std::string> metadata_;
    std::vector<FeatureField> fields_;
    mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Predictor> load_predictor(const std::string& path) {
    auto metadata = load_model_file(path).metadata;
    AnyModel model = load_any_model(path);
    const std::string task = task_name(task_of(model).task);
    if (auto* gbdt = std::get_if<GbdtModel>(&model))
        return std::make_unique<GbdtPredictor>(std::move(*gbdt), task, std::move(metadata));
    return std::make_unique<LstmPredictor>(std::move(std::get<LstmModel>(model)), task, std::move(metadata));
}

}  // namespace skipper::tools
