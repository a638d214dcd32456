// The Predictor implementations over the two learners' model files.
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

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

std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

Tensor rows_tensor(const std::vector<float>& values, int64_t rows, size_t num_fields) {
    check_value_count(values, rows, num_fields);
    return Tensor::from_vector<float>(values, {rows, static_cast<int64_t>(num_fields)});
}

// The session features must be the model's: a value the training data never
// had (a new reason_end, say) would shift the encodings.
void check_session_features(const std::vector<FeatureField>& fields, const std::vector<std::string>& names,
                            const std::vector<std::vector<std::string>>& categories) {
    for (size_t i = 0; i < names.size() || i < fields.size(); ++i) {
        const bool same = i < names.size() && i < fields.size() && names[i] == fields[i].name &&
                          (i >= categories.size() || !fields[i].categorical || categories[i] == fields[i].categories);
        if (!same)
            throw FieldError("history", "the session's values give feature '" + (i < names.size() ? names[i] : "") +
                                            "' where the model has '" + (i < fields.size() ? fields[i].name : "") +
                                            "' (a category the model was not trained with?)");
    }
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
    bool takes_rows() const override { return true; }
    bool takes_sessions() const override { return task_ == "session"; }
    const std::vector<FeatureField>& fields() const override { return fields_; }
    std::map<std::string, std::string> metadata() const override { return metadata_; }

    std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const override {
        if (rows == 1) {  // the server's common case: no tensor, no threads
            check_value_count(values, rows, fields_.size());
            return {model_.predict_proba_row(values)};
        }
        return model_.predict_proba(rows_tensor(values, rows, fields_.size()));
    }
    std::vector<double> predict_session(const data::MssdData& session, const data::TrackStandardiser& z) const override {
        if (!takes_sessions()) throw Error("a gbdt seed model predicts rows, not sessions");
        const data::TabularDataset rows = data::build_session_rows(session, &z);
        check_session_features(fields_, rows.feature_names, rows.category_names);
        return model_.predict_proba(rows.features);
    }

private:
    GbdtModel model_;
    std::string task_;
    std::map<std::string, std::string> metadata_;
    std::vector<FeatureField> fields_;
};

// LSTM networks hold their workspaces: each is used by one thread at a time.
// They are made on first need and kept, so a server makes one per worker
// thread, once, and every later request reuses it.
class NetworkPool {
public:
    explicit NetworkPool(const LstmModel& model) : model_(model) {}

    class Lease {
    public:
        Lease(NetworkPool& pool, std::unique_ptr<lstm::LstmNetwork> net) : pool_(pool), net_(std::move(net)) {}
        ~Lease() {
            const std::lock_guard lock(pool_.mutex_);
            pool_.free_.push_back(std::move(net_));
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        lstm::LstmNetwork& operator*() const { return *net_; }

    private:
        NetworkPool& pool_;
        std::unique_ptr<lstm::LstmNetwork> net_;
    };

    Lease acquire() {
        {
            const std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                auto net = std::move(free_.back());
                free_.pop_back();
                return Lease(*this, std::move(net));
            }
        }
        // Predictions run on the CPU with one thread per caller: a server runs
        // many at once, and a model trained on CUDA serves on any machine.
        return Lease(*this, model_.make_network(Device::cpu, 1));
    }

private:
    const LstmModel& model_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<lstm::LstmNetwork>> free_;
};

class LstmPredictor final : public Predictor {
public:
    LstmPredictor(LstmModel model, std::string task, std::map<std::string, std::string> metadata)
        : model_(std::move(model)),
          task_(std::move(task)),
          metadata_(std::move(metadata)),
          fields_(fields_of(model_.feature_names(), model_.categorical(), model_.category_names())),
          networks_(model_) {}

    std::string learner() const override { return "lstm"; }
    std::string task() const override { return task_; }
    bool takes_rows() const override { return model_.arch() == "seed"; }
    bool takes_sessions() const override { return model_.arch() == "session"; }
    const std::vector<FeatureField>& fields() const override { return fields_; }
    std::map<std::string, std::string> metadata() const override { return metadata_; }

    std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const override {
        if (!takes_rows()) throw Error("an lstm session model predicts sessions, not rows");
        data::TabularDataset batch;
        batch.feature_names = model_.feature_names();
        batch.categorical = model_.categorical();
        batch.category_names = model_.category_names();
        batch.features = rows_tensor(values, rows, fields_.size());
        batch.labels = Tensor::zeros({rows}, DType::f32);
        const auto net = networks_.acquire();
        return model_.predict_proba(batch, *net);
    }

    std::vector<double> predict_session(const data::MssdData& session, const data::TrackStandardiser& z) const override {
        if (!takes_sessions()) throw Error("an lstm seed model predicts rows, not sessions");
        const data::SequenceDataset sequences = data::build_session_sequences(session, data::kMaxSessionSteps, &z);
        check_session_features(fields_, sequences.feature_names, {});
        std::vector<double> all;
        {
            const auto net = networks_.acquire();
            all = model_.predict_proba(sequences, *net);
        }
        const float* mask = sequences.predict_mask.data<float>();
        std::vector<double> out;
        for (size_t t = 0; t < all.size(); ++t)
            if (mask[t] > 0.5f) out.push_back(all[t]);
        return out;
    }

private:
    LstmModel model_;
    std::string task_;
    std::map<std::string, std::string> metadata_;
    std::vector<FeatureField> fields_;
    mutable NetworkPool networks_;
};

}  // namespace

std::unique_ptr<Predictor> load_predictor(const std::string& path) {
    auto metadata = load_model_file(path).metadata;
    const std::string bytes = read_file_bytes(path);
    char checksum[17];
    std::snprintf(checksum, sizeof checksum, "%016llx",
                  static_cast<unsigned long long>(
                      fnv1a64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
    metadata["model_checksum"] = checksum;
    AnyModel model = load_any_model(path);
    const std::string task = task_name(task_of(model).task);
    if (auto* gbdt = std::get_if<GbdtModel>(&model))
        return std::make_unique<GbdtPredictor>(std::move(*gbdt), task, std::move(metadata));
    return std::make_unique<LstmPredictor>(std::move(std::get<LstmModel>(model)), task, std::move(metadata));
}

}  // namespace skipper::tools
