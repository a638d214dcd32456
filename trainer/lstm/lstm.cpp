#include "trainer/lstm/lstm.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>


#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/serialize.h"
#include "trainer/lstm/batch.h"
#include "trainer/model_metadata.h"
#include "trainer/metrics/metrics.h"
#include "trainer/metrics/session_metrics.h"

namespace skipper {

namespace {

constexpr const char* kLearner = "lstm";

lstm::LstmArchitecture architecture_for(const LstmParams& params, int64_t input_size) {
    lstm::LstmArchitecture arch;
    arch.input_size = input_size;
    arch.hidden_size = params.hidden_size;
    arch.num_layers = params.num_layers;
    arch.bidirectional = params.bidirectional;
    arch.output_every_step = params.arch == "session";
    return arch;
}

void check_feature_names(const std::vector<std::string>& model, const std::vector<std::string>& data) {
    if (model.size() != data.size())
        throw Error("the LSTM model was trained on " + std::to_string(model.size()) + " features, the data has " +
                    std::to_string(data.size()));
    for (size_t i = 0; i < model.size(); ++i)
        if (model[i] != data[i])
            throw Error("feature " + std::to_string(i) + ": the LSTM model expects '" + model[i] + "', the data has '" +
                        data[i] + "'");
}

void require_arch(const LstmParams& params, const char* want) {
    if (params.arch != want)
        throw ParamError("arch", std::string("this dataset trains arch=") + want + ", got arch=" + params.arch);
}

double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)); }

// Runs `source` through `net` batch by batch and returns P(1) for every
// output, in the source's order ([items] or [items, steps]).
std::vector<double> predict_with(lstm::LstmNetwork& net, const lstm::BatchSource& source, int64_t batch_size) {
    const int64_t items = source.items();
    const int64_t batch = std::max<int64_t>(1, std::min(batch_size, items));
    const int64_t steps = source.steps();
    const int64_t per_item = net.architecture().output_every_step ? steps : 1;
    std::vector<double> out(static_cast<size_t>(items * per_item));
    lstm::BatchStaging staging(net, steps, batch);
    std::vector<int64_t> indices;
    for (int64_t begin = 0; begin < items; begin += batch) {
        const int64_t end = std::min(items, begin + batch);
        indices.resize(static_cast<size_t>(end - begin));
        std::iota(indices.begin(), indices.end(), begin);
        staging.fill(source, indices);
        const auto logits = net.forward().to(Device::cpu);
        const std::vector<double> z = net.dtype() == DType::f32
                                          ? [&] { const auto v = logits.to_vector<float>(); return std::vector<double>(v.begin(), v.end()); }()
                                          : logits.to_vector<double>();
        // Logits are [T, B] (time-major) or [B]; the output is item-major.
        for (int64_t b = 0; b < end - begin; ++b)
            for (int64_t t = 0; t < per_item; ++t)
                out[static_cast<size_t>((begin + b) * per_item + t)] = sigmoid(z[static_cast<size_t>(t * batch + b)]);
    }
    return out;
}

}  // namespace

// The training loop; a friend of LstmModel so that it fills the model in place.
class LstmTrainer {
public:
    LstmTrainer(const LstmParams& params, LstmModel& model) : params_(params), model_(model) {}

    // A model that knows its inputs, before training.
    static LstmModel describe_inputs(const LstmParams& params, std::vector<std::string> feature_names,
                                     std::vector<bool> categorical,
                                     std::vector<std::vector<std::string>> category_names, int64_t input_size,
                                     const lstm::Standardiser& standardiser) {
        LstmModel model;
        model.params_ = params;
        model.feature_names_ = std::move(feature_names);
        model.categorical_ = std::move(categorical);
        model.category_names_ = std::move(category_names);
        model.architecture_ = architecture_for(params, input_size);
        model.feature_mean_ = standardiser.mean;
        model.feature_scale_ = standardiser.scale;
        return model;
    }

    void run(const lstm::BatchSource& train, const lstm::BatchSource* valid, TrainingLog* log,
             const ProgressCallback& progress, bool session_metrics, const data::SequenceDataset* valid_sequences,
             const data::TabularDataset* valid_rows);

private:
    const LstmParams& params_;
    LstmModel& model_;
};

void LstmTrainer::run(const lstm::BatchSource& train, const lstm::BatchSource* valid, TrainingLog* log,
                      const ProgressCallback& progress, bool session_metrics,
                      const data::SequenceDataset* valid_sequences, const data::TabularDataset* valid_rows) {
    if (train.items() == 0) throw Error("train_lstm: the training set is empty");
    if (params_.early_stopping_round > 0 && valid == nullptr)
        throw ParamError("early_stopping_round", "early stopping needs a validation set");
    const auto start = std::chrono::steady_clock::now();
    const Device device = resolve_device(parse_device_choice(params_.device));
    lstm::LstmNetwork net(model_.architecture_, DType::f32, device, static_cast<int>(params_.num_threads));
    net.set_tf32(params_.tf32);
    net.initialize(static_cast<uint64_t>(params_.seed));

    ops::AdamOptions adam;
    adam.learning_rate = params_.learning_rate;
    adam.beta1 = params_.beta1;
    adam.beta2 = params_.beta2;
    adam.epsilon = params_.epsilon;
    adam.weight_decay = params_.weight_decay;
    Tensor& weights = net.flat_parameters();
    Tensor adam_m = Tensor::zeros(weights.shape(), weights.dtype(), device);
    Tensor adam_v = Tensor::zeros(weights.shape(), weights.dtype(), device);
    Tensor best_weights;

    const int64_t items = train.items();
    const int64_t batch = std::min(params_.batch_size, items);
    lstm::BatchStaging staging(net, train.steps(), batch);
    std::mt19937_64 rng(static_cast<uint64_t>(params_.seed));
    std::vector<int64_t> order(static_cast<size_t>(items));
    std::iota(order.begin(), order.end(), 0);
    std::vector<int64_t> indices;
    int64_t step = 0;
    double best_loss = INFINITY;
    int64_t best_epoch = 0;
    std::string stopped = "completed";

    for (int64_t epoch = 1; epoch <= params_.epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), rng);
        double loss_sum = 0.0, weight_sum = 0.0;
        for (int64_t begin = 0; begin < items; begin += batch) {
            const int64_t end = std::min(items, begin + batch);
            indices.assign(order.begin() + begin, order.begin() + end);
            const double batch_weight = staging.fill(train, indices);
            const double loss = net.forward_backward();
            ops::adam_step(net.context(), weights, net.flat_gradients(), adam_m, adam_v, adam, ++step);
            loss_sum += loss * batch_weight;
            weight_sum += batch_weight;
        }
        IterationRecord record;
        record.iteration = epoch;
        record.total = params_.epochs;
        record.metrics["train_logloss"] = weight_sum > 0 ? loss_sum / weight_sum : 0.0;
        bool improved = false;
        if (valid != nullptr && valid->items() > 0) {
            const auto proba = predict_with(net, *valid, batch);
            const std::vector<float> scores(proba.begin(), proba.end());
            if (session_metrics) {
                // Scored on the positions to predict only.
                const auto labels = valid_sequences->labels.to_vector<float>();
                const auto mask = valid_sequences->predict_mask.to_vector<float>();
                std::vector<float> y, p;
                for (size_t i = 0; i < mask.size(); ++i)
                    if (mask[i] != 0.0f) {
                        y.push_back(labels[i]);
                        p.push_back(scores[i]);
                    }
                record.metrics["valid_logloss"] = metrics::log_loss(y, p);
                record.metrics["valid_accuracy"] = metrics::accuracy(y, p);
                const Tensor score_tensor =
                    Tensor::from_vector<float>(scores, {valid_sequences->sessions(), valid_sequences->max_steps()});
                const auto session = metrics::session_scores(*valid_sequences, score_tensor);
                record.metrics["valid_aa"] = session.mean_average_accuracy;
                record.metrics["valid_first_accuracy"] = session.first_prediction_accuracy;
            } else {
                const auto labels = valid_rows->labels.to_vector<float>();
                record.metrics["valid_logloss"] = metrics::log_loss(labels, scores);
                record.metrics["valid_auc"] = metrics::roc_auc(labels, scores);
                record.metrics["valid_accuracy"] = metrics::accuracy(labels, scores);
            }
            const double valid_loss = record.metrics["valid_logloss"];
            if (valid_loss < best_loss) {
                best_loss = valid_loss;
                best_epoch = epoch;
                improved = true;
            }
        }
        if (improved && params_.early_stopping_round > 0) {
            if (!best_weights.defined()) best_weights = Tensor::empty(weights.shape(), weights.dtype(), device);
            best_weights.copy_from(weights);
        }
        record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (log != nullptr) log->records.push_back(record);
        if (progress) progress(record);
        if (params_.early_stopping_round > 0 && epoch - best_epoch >= params_.early_stopping_round) {
            stopped = "early stopping at epoch " + std::to_string(epoch) + " (best epoch " +
                      std::to_string(best_epoch) + ")";
            break;
        }
    }
    // Keep the best epoch's weights, as LightGBM keeps the best iteration's trees.
    if (best_weights.defined()) weights.copy_from(best_weights);
    if (log != nullptr) {
        log->best_iteration = best_epoch;
        log->stopped_reason = stopped;
    }
    for (const auto& name : net.parameter_names()) {
        const Tensor value = net.parameter(name);
        model_.weights_[name] = value;
    }
}

LstmModel train_lstm(const data::TabularDataset& train, const data::TabularDataset* valid, const LstmParams& params,
                     TrainingLog* log, const ProgressCallback& progress) {
    require_arch(params, "seed");
    const auto standardiser = lstm::fit_standardiser(train);
    LstmModel model = LstmTrainer::describe_inputs(params, train.feature_names, train.categorical,
                                                   train.category_names, 1, standardiser);
    if (valid != nullptr) check_feature_names(train.feature_names, valid->feature_names);
    const lstm::TabularSource train_source(train, standardiser);
    std::unique_ptr<lstm::TabularSource> valid_source;
    if (valid != nullptr) valid_source = std::make_unique<lstm::TabularSource>(*valid, standardiser);
    LstmTrainer(params, model).run(train_source, valid_source.get(), log, progress, false, nullptr, valid);
    return model;
}

LstmModel train_lstm(const data::SequenceDataset& train, const data::SequenceDataset* valid,
                     const LstmParams& params, TrainingLog* log, const ProgressCallback& progress) {
    require_arch(params, "session");
    const auto standardiser = lstm::fit_standardiser(train);
    const size_t features = train.feature_names.size();
    LstmModel model = LstmTrainer::describe_inputs(params, train.feature_names, std::vector<bool>(features, false),
                                                   std::vector<std::vector<std::string>>(features),
                                                   train.num_features(), standardiser);
    if (valid != nullptr) check_feature_names(train.feature_names, valid->feature_names);
    const lstm::SequenceSource train_source(train, standardiser);
    std::unique_ptr<lstm::SequenceSource> valid_source;
    if (valid != nullptr) valid_source = std::make_unique<lstm::SequenceSource>(*valid, standardiser);
    LstmTrainer(params, model).run(train_source, valid_source.get(), log, progress, true, valid, nullptr);
    return model;
}

std::unique_ptr<lstm::LstmNetwork> LstmModel::make_network(Device device, int num_threads) const {
    auto net = std::make_unique<lstm::LstmNetwork>(architecture_, DType::f32, device, num_threads);
    for (const auto& [name, value] : weights_) net->set_parameter(name, value);
    return net;
}

namespace {

// The stored device is where the model trained, not where it must run: a
// model trained with device=cuda predicts on the CPU of a machine without a GPU.
std::unique_ptr<lstm::LstmNetwork> network_for(const LstmModel& model) {
    return model.make_network(resolve_device(DeviceChoice::automatic), static_cast<int>(model.params().num_threads));
}

}  // namespace

std::vector<double> LstmModel::predict_proba(const data::TabularDataset& data) const {
    if (data.rows() == 0) return {};
    return predict_proba(data, *network_for(*this));
}

std::vector<double> LstmModel::predict_proba(const data::SequenceDataset& data) const {
    if (data.sessions() == 0) return {};
    return predict_proba(data, *network_for(*this));
}

std::vector<double> LstmModel::predict_proba(const data::TabularDataset& data, lstm::LstmNetwork& net) const {
    if (params_.arch != "seed") throw Error("this LSTM model has arch=" + params_.arch + ": it predicts sessions");
    check_feature_names(feature_names_, data.feature_names);
    if (data.rows() == 0) return {};
    const lstm::TabularSource source(data, lstm::Standardiser{feature_mean_, feature_scale_});
    return predict_with(net, source, params_.batch_size);
}

std::vector<double> LstmModel::predict_proba(const data::SequenceDataset& data, lstm::LstmNetwork& net) const {
    if (params_.arch != "session") throw Error("this LSTM model has arch=" + params_.arch + ": it predicts rows");
    check_feature_names(feature_names_, data.feature_names);
    if (data.sessions() == 0) return {};
    const lstm::SequenceSource source(data, lstm::Standardiser{feature_mean_, feature_scale_});
    auto proba = predict_with(net, source, params_.batch_size);
    // 0 on padded steps, as documented.
    const auto mask = data.step_mask.to_vector<float>();
    for (size_t i = 0; i < proba.size(); ++i)
        if (mask[i] == 0.0f) proba[i] = 0.0;
    return proba;
}

// Conversion between a model and its file form.
struct LstmModelIo {
    static ModelFile to_file(const LstmModel& model);
    static LstmModel from_file(const ModelFile& file, const std::string& origin);
};

ModelFile LstmModelIo::to_file(const LstmModel& model) {
    ModelFile file;
    file.metadata["learner"] = kLearner;
    file.metadata["model"] = kLearner;
    file.metadata["arch"] = model.params_.arch;
    write_stored_params(file, model.params_, lstm_param_table());
    file.metadata["input_size"] = std::to_string(model.architecture_.input_size);
    write_feature_schema(file, {model.feature_names_,
                                std::vector<bool>(model.categorical_.begin(), model.categorical_.end()),
                                model.category_names_});
    const auto features = static_cast<int64_t>(model.feature_mean_.size());
    file.tensors["feature_mean"] = Tensor::from_vector<double>(model.feature_mean_, {features});
    file.tensors["feature_scale"] = Tensor::from_vector<double>(model.feature_scale_, {features});
    for (const auto& [name, value] : model.weights_) file.tensors["weight." + name] = value;
    return file;
}

LstmModel LstmModelIo::from_file(const ModelFile& file, const std::string& origin) {
    auto fail = [&](const std::string& what) { return FormatError(origin, what); };
    const auto learner = file.metadata.find("learner");
    if (learner == file.metadata.end() || learner->second != kLearner)
        throw fail("not an LSTM model (learner '" + (learner == file.metadata.end() ? "" : learner->second) + "')");
    LstmModel model;
    read_stored_params(file, model.params_, lstm_param_table(), origin);
    FeatureSchema schema = read_feature_schema(file, origin);
    model.feature_names_ = std::move(schema.names);
    model.categorical_.assign(schema.categorical.begin(), schema.categorical.end());
    model.category_names_ = std::move(schema.category_names);
    const size_t features = model.feature_names_.size();
    int64_t input_size = 0;
    if (file.metadata.count("input_size") == 0) throw fail("missing metadata 'input_size'");
    const std::string& input_text = file.meta("input_size");
    const auto [end, error] = std::from_chars(input_text.data(), input_text.data() + input_text.size(), input_size);
    if (error != std::errc() || end != input_text.data() + input_text.size())
        throw fail("bad input_size '" + input_text + "'");
    const int64_t want_input = model.params_.arch == "session" ? static_cast<int64_t>(features) : 1;
    if (input_size != want_input)
        throw fail("input_size " + std::to_string(input_size) + " does not fit arch=" + model.params_.arch + " with " +
                   std::to_string(features) + " features");
    model.architecture_ = architecture_for(model.params_, input_size);
    auto read_doubles = [&](const std::string& name) {
        const auto it = file.tensors.find(name);
        if (it == file.tensors.end()) throw fail("missing tensor '" + name + "'");
        const Tensor& t = it->second;
        if (t.dtype() != DType::f64 || t.dim() != 1 || t.size(0) != static_cast<int64_t>(features))
            throw fail("tensor '" + name + "' must be f64[" + std::to_string(features) + "], got " + t.describe());
        return t.to_vector<double>();
    };
    model.feature_mean_ = read_doubles("feature_mean");
    model.feature_scale_ = read_doubles("feature_scale");
    // Every weight's presence, dtype and shape is checked against the
    // architecture the file declares before anything is built from its sizes,
    // so a network built from this model is never larger than the file.
    const std::vector<lstm::ParameterSpec> specs = lstm::parameter_specs(model.architecture_);
    for (const auto& spec : specs) {
        const auto it = file.tensors.find("weight." + spec.name);
        if (it == file.tensors.end()) throw fail("missing weight '" + spec.name + "'");
        if (it->second.dtype() != DType::f32 || it->second.shape() != spec.shape)
            throw fail("weight '" + spec.name + "' must be f32" + shape_string(spec.shape) + ", got " +
                       it->second.describe());
        model.weights_[spec.name] = it->second;
    }
    for (const auto& [name, tensor] : file.tensors)
        if (name.rfind("weight.", 0) == 0 && model.weights_.count(name.substr(7)) == 0)
            throw fail("unknown weight '" + name.substr(7) + "' for this architecture");
    return model;
}

std::vector<uint8_t> LstmModel::to_bytes() const { return serialize_model(LstmModelIo::to_file(*this)); }

LstmModel LstmModel::from_bytes(const std::vector<uint8_t>& bytes, const std::string& origin) {
    return LstmModelIo::from_file(deserialize_model(bytes, origin), origin);
}

void LstmModel::save(const std::string& path) const { save_model_file(path, LstmModelIo::to_file(*this)); }

LstmModel LstmModel::load(const std::string& path) { return LstmModelIo::from_file(load_model_file(path), path); }

}  // namespace skipper
