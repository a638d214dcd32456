#include "trainer/lstm/lstm.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <numbers>
#include <numeric>
#include <random>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "engine/serialize.h"
#include "kernels/cpu/random.h"
#include "trainer/data/split.h"
#include "trainer/data_parallel.h"
#include "trainer/lstm/batch.h"
#include "trainer/lstm/batch_stream.h"
#include "trainer/data/layout.h"
#include "trainer/model_metadata.h"
#include "trainer/metrics/metrics.h"
#include "trainer/metrics/reduced_metrics.h"
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
    arch.output_every_step = is_session_arch(params.arch);
    arch.encoder_decoder = params.arch == "session_seq2seq";
    // The encoder hands its state forward: one direction.
    if (arch.encoder_decoder) arch.bidirectional = false;
    if (params.track_embedding_dim > 0) {
        if (!arch.output_every_step)
            throw ParamError("track_embedding_dim", "the track embedding is for sessions (arch=session_seq2seq or "
                                                    "session), got arch=" + params.arch);
        arch.embedding_dim = params.track_embedding_dim;
        arch.embedding_rows = params.track_embedding_buckets;
    }
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

void require_session_arch(const LstmParams& params) {
    if (!is_session_arch(params.arch))
        throw ParamError("arch", "sessions train arch=session_seq2seq or arch=session, got arch=" + params.arch);
}

// The step at which the encoder-decoder's decoder starts: half the steps.
int64_t encoder_steps_for(const LstmModel& model, const data::SequenceDataset& data) {
    return model.architecture().encoder_decoder ? data.max_steps() / 2 : 0;
}

// A model's view of a session dataset: aligned for its arch, and with its
// embedding table's rows when it embeds track ids.
lstm::SequenceSource session_source(const LstmModel& model, const data::SequenceDataset& data,
                                    lstm::Standardiser standardiser) {
    return lstm::SequenceSource(data, std::move(standardiser), encoder_steps_for(model, data),
                                model.architecture().embedding_dim > 0 ? model.architecture().embedding_rows : 0);
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
        // Logits are [T, B] (time-major) or [B]; the output is item-major,
        // from each item's step 0 (batch step step_offset(item)).
        for (int64_t b = 0; b < end - begin; ++b) {
            const int64_t offset = source.step_offset(begin + b);
            for (int64_t t = 0; t < per_item; ++t) {
                const int64_t at = t + offset;
                out[static_cast<size_t>((begin + b) * per_item + t)] =
                    at < steps ? sigmoid(z[static_cast<size_t>(at * batch + b)]) : 0.5;
            }
        }
    }
    return out;
}

// What the trainer scores each epoch: a source to predict and a scorer of
// its predictions (the metrics, valid_logloss among them).
// With the items spread over the ranks, each rank predicts its own and the
// scorer reduces the metrics; `items` counts those of every rank (each rank
// scores, even one with none of them, since the scorer's reductions are
// collective).
struct Validation {
    const lstm::BatchSource* source = nullptr;
    std::function<std::map<std::string, double>(const std::vector<double>&)> score;
    int64_t items = 0;
};

std::map<std::string, double> score_valid_rows(const data::TabularDataset& valid, const std::vector<double>& proba) {
    const std::vector<float> scores(proba.begin(), proba.end());
    const auto labels = valid.labels.to_vector<float>();
    return {{"valid_logloss", metrics::log_loss(labels, scores)},
            {"valid_auc", metrics::roc_auc(labels, scores)},
            {"valid_accuracy", metrics::accuracy(labels, scores)}};
}

// Scored on the positions to predict only. `reduced`: `valid` is this rank's
// part of the sessions, and the metrics are those of every rank's
// (trainer/metrics/reduced_metrics.h).
std::map<std::string, double> score_valid_sessions(const data::SequenceDataset& valid, const std::vector<double>& proba,
                                                   bool reduced) {
    const std::vector<float> scores(proba.begin(), proba.end());
    const auto labels = valid.labels.to_vector<float>();
    const auto mask = valid.predict_mask.to_vector<float>();
    std::vector<float> y, p;
    for (size_t i = 0; i < mask.size(); ++i)
        if (mask[i] != 0.0f) {
            y.push_back(labels[i]);
            p.push_back(scores[i]);
        }
    auto session = metrics::session_scores(
        valid, Tensor::from_vector<float>(scores, {valid.sessions(), valid.max_steps()}));
    if (!reduced)
        return {{"valid_logloss", metrics::log_loss(y, p)},
                {"valid_accuracy", metrics::accuracy(y, p)},
                {"valid_aa", session.mean_average_accuracy},
                {"valid_first_accuracy", session.first_prediction_accuracy}};
    session = metrics::reduced_session_scores(session);
    return {{"valid_logloss", metrics::reduced_log_loss(y, p)},
            {"valid_accuracy", metrics::reduced_confusion_matrix(y, p).accuracy()},
            {"valid_aa", session.mean_average_accuracy},
            {"valid_first_accuracy", session.first_prediction_accuracy}};
}

// One global batch as this rank trains on it: its items and each one's row
// in the global batch.
struct RankBatch {
    std::vector<int64_t> items;
    std::vector<int32_t> rows;
};

// The global batches of an epoch's `order`, cut into this rank's parts. With
// `local_of` null every rank holds every item (order's entries are its
// items) and takes a contiguous share of each batch; otherwise order's
// entries are places in the one-process order, and the rank takes those it
// holds (local_of[place] >= 0: its item), wherever they fall in the batch.
std::vector<RankBatch> rank_batches(const std::vector<int64_t>& order, int64_t batch,
                                    const std::vector<int64_t>* local_of) {
    const auto items = static_cast<int64_t>(order.size());
    std::vector<RankBatch> out;
    for (int64_t begin = 0; begin < items; begin += batch) {
        const int64_t count = std::min(items, begin + batch) - begin;
        RankBatch part;
        if (local_of == nullptr) {
            const RankShare share = rank_share(count);
            for (int64_t j = share.begin; j < share.end; ++j) {
                part.items.push_back(order[static_cast<size_t>(begin + j)]);
                part.rows.push_back(static_cast<int32_t>(j));
            }
        } else {
            for (int64_t j = 0; j < count; ++j) {
                const int64_t item = (*local_of)[static_cast<size_t>(order[static_cast<size_t>(begin + j)])];
                if (item < 0) continue;
                part.items.push_back(item);
                part.rows.push_back(static_cast<int32_t>(j));
            }
        }
        out.push_back(std::move(part));
    }
    return out;
}

// The step size of optimizer step `step` (from 1) of `total`.
double scheduled_learning_rate(const LstmParams& params, int64_t step, int64_t total) {
    if (params.lr_schedule == "constant" || total <= 1) return params.learning_rate;
    const double progress = static_cast<double>(step - 1) / static_cast<double>(total - 1);
    const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    return params.learning_rate * (params.min_lr_ratio + (1.0 - params.min_lr_ratio) * cosine);
}

// Scales the gradient so that its global L2 norm is at most max_norm, as
// torch.nn.utils.clip_grad_norm_. The squared norm is one [1, P] x [P, 1]
// product on the gradient's device.
void clip_gradient_norm(Context& ctx, Tensor& gradient, Tensor& squared_norm, double max_norm) {
    const Tensor row = gradient.reshape({1, gradient.numel()});
    ops::matmul(ctx, row, false, row, true, squared_norm);
    const Tensor host = squared_norm.to(Device::cpu);
    const double norm = std::sqrt(host.dtype() == DType::f32 ? double{host.to_vector<float>()[0]}
                                                             : host.to_vector<double>()[0]);
    if (norm > max_norm) ops::scale(ctx, gradient, max_norm / (norm + 1e-6), gradient);
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

    // Trains on the items `train_items` of `train`; `valid.source` may be
    // null. The embedding's `zero_rows` start at 0 (train must not use them).
    // Data-parallel with each rank holding its share of the items
    // (`local_of` given): train_items are places in the one-process order,
    // and local_of maps each place to this rank's item of `train`, or -1.
    void run(const lstm::BatchSource& train, std::vector<int64_t> train_items, const Validation& valid,
             TrainingLog* log, const ProgressCallback& progress, const std::vector<int64_t>& zero_rows = {},
             const std::vector<int64_t>* local_of = nullptr);

private:
    const LstmParams& params_;
    LstmModel& model_;
};

void LstmTrainer::run(const lstm::BatchSource& train, std::vector<int64_t> train_items, const Validation& valid,
                      TrainingLog* log, const ProgressCallback& progress, const std::vector<int64_t>& zero_rows,
                      const std::vector<int64_t>* local_of) {
    if (train_items.empty()) throw Error("train_lstm: the training set is empty");
    const bool early_stopping = params_.early_stopping_round > 0 && valid.source != nullptr;
    const auto start = std::chrono::steady_clock::now();
    const Device device = resolve_device(parse_device_choice(params_.device));
    lstm::LstmNetwork net(model_.architecture_, DType::f32, device, static_cast<int>(params_.num_threads));
    net.set_tf32(params_.tf32);
    net.set_cuda_graph(true);  // used on CUDA for the steps without dropout (network.h)
    net.initialize(static_cast<uint64_t>(params_.seed));
    if (!zero_rows.empty()) {
        // No step reaches them, so their gradient and Adam moments stay 0 and
        // they stay 0: the same as no embedding, in training and prediction.
        Tensor table = net.parameter("embedding.weight");
        const int64_t dim = table.size(1);
        for (int64_t row : zero_rows) std::fill_n(table.data<float>() + row * dim, dim, 0.0f);
        net.set_parameter("embedding.weight", table);
    }

    ops::AdamOptions adam;
    adam.beta1 = params_.beta1;
    adam.beta2 = params_.beta2;
    adam.epsilon = params_.epsilon;
    adam.weight_decay = params_.weight_decay;
    Tensor& weights = net.flat_parameters();
    Tensor& gradients = net.flat_gradients();
    Tensor adam_m = Tensor::zeros(weights.shape(), weights.dtype(), device);
    Tensor adam_v = Tensor::zeros(weights.shape(), weights.dtype(), device);
    Tensor squared_norm = Tensor::zeros({1, 1}, weights.dtype(), device);
    Tensor best_weights;

    const auto items = static_cast<int64_t>(train_items.size());
    const int64_t batch = std::min(params_.batch_size, items);
    const int64_t steps_per_epoch = (items + batch - 1) / batch;
    const int64_t total_steps = steps_per_epoch * params_.epochs;
    int64_t step = 0;
    double best_loss = INFINITY;
    int64_t best_epoch = 0;
    std::string stopped = "completed";

    for (int64_t epoch = 1; epoch <= params_.epochs; ++epoch) {
        // Data-parallel: every rank shuffles alike and takes its part of each global batch.
        std::vector<RankBatch> parts =
            rank_batches(lstm::epoch_order(train_items, static_cast<uint64_t>(params_.seed), epoch), batch, local_of);
        // Each batch as wide as the rank's part of it, rounded up to a
        // multiple of 8 (a few shapes for the network's buffers; at most the
        // global batch): a rank holding
        // whole files has uneven parts (RESULTS.md, issue 12), and computes no
        // padding beyond its own. Ranks sharing every batch evenly keep one width.
        std::vector<int64_t> widths;
        for (const auto& part : parts) {
            const auto count = static_cast<int64_t>(part.items.size());
            widths.push_back(local_of == nullptr ? largest_rank_share(batch)
                                                 : std::min(batch, std::max<int64_t>(8, (count + 7) / 8 * 8)));
        }
        std::map<int64_t, std::unique_ptr<lstm::BatchStaging>> stagings;  // per width
        const auto staging_for = [&](int64_t width) -> lstm::BatchStaging& {
            auto& staging = stagings[width];
            if (!staging) staging = std::make_unique<lstm::BatchStaging>(net, train.steps(), width);
            return *staging;
        };
        std::vector<std::vector<int64_t>> batches;
        for (size_t i = 0; i < parts.size(); ++i) {
            batches.push_back(std::move(parts[i].items));
            parts[i].rows.resize(static_cast<size_t>(widths[i]), 0);  // padding rows: any place (no weight)
        }
        // The next batch is assembled on the prefetch thread while this one trains.
        lstm::BatchPrefetcher prefetcher(train, std::move(batches), widths,
                                         staging_for(*std::max_element(widths.begin(), widths.end())).make_host_batch());
        double loss_sum = 0.0, weight_sum = 0.0;
        for (size_t i = 0; i < parts.size(); ++i) {
            const RankBatch& part = parts[i];
            const lstm::HostBatch* next = prefetcher.next();
            if (next == nullptr) throw Error("train_lstm: the prefetcher ran out of batches");
            const double local_weight = staging_for(widths[i]).load(*next);
            ++step;
            // A fresh dropout mask per step, reproducible from the seed, drawn
            // on each element's place in the global batch (its row there, not
            // this rank's), so the ranks together drop what one process drops.
            net.set_dropout(params_.dropout, counter_hash(static_cast<uint64_t>(params_.seed), static_cast<uint64_t>(step)),
                            params_.track_embedding_dropout, part.rows, batch);
            const double local_loss = net.forward_backward();
            const GlobalLoss global = sum_gradients(net.context(), gradients, local_loss, local_weight);
            // Clipped after the sum: the norm is the global batch's.
            if (params_.max_grad_norm > 0)
                clip_gradient_norm(net.context(), gradients, squared_norm, params_.max_grad_norm);
            adam.learning_rate = scheduled_learning_rate(params_, step, total_steps);
            ops::adam_step(net.context(), weights, gradients, adam_m, adam_v, adam, step);
            loss_sum += global.loss * global.weight;
            weight_sum += global.weight;
        }
        net.set_dropout(0.0, 0);
        IterationRecord record;
        record.iteration = epoch;
        record.total = params_.epochs;
        record.metrics["train_logloss"] = weight_sum > 0 ? loss_sum / weight_sum : 0.0;
        record.metrics["learning_rate"] = adam.learning_rate;
        bool improved = false;
        if (valid.source != nullptr && valid.items > 0) {
            for (const auto& [name, value] : valid.score(predict_with(net, *valid.source, batch)))
                record.metrics[name] = value;
            const double valid_loss = record.metrics["valid_logloss"];
            if (valid_loss < best_loss) {
                best_loss = valid_loss;
                best_epoch = epoch;
                improved = true;
            }
        }
        if (improved && early_stopping) {
            if (!best_weights.defined()) best_weights = Tensor::empty(weights.shape(), weights.dtype(), device);
            best_weights.copy_from(weights);
        }
        record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (log != nullptr) log->records.push_back(record);
        if (progress) progress(record);
        if (early_stopping && epoch - best_epoch >= params_.early_stopping_round) {
            stopped = "early stopping at epoch " + std::to_string(epoch) + " (best epoch " +
                      std::to_string(best_epoch) + ")";
            break;
        }
    }
    // Keep the best epoch's weights, as LightGBM keeps the best iteration's trees.
    if (best_weights.defined()) weights.copy_from(best_weights);
    if (log != nullptr) {
        log->best_iteration = early_stopping ? best_epoch : params_.epochs;
        log->stopped_reason = stopped;
    }
    for (const auto& name : net.parameter_names()) {
        const Tensor value = net.parameter(name);
        model_.weights_[name] = value;
    }
}

namespace {

// Early stopping without a validation set given: hold out
// validation_fraction of the training items (never the test split). Returns
// the items left to train on; `held_out` receives the others.
// Items with a session hash are held out by it (as the test split is, with
// another salt), so that the choice follows the session and not where it is
// stored; others (rows) by a seeded random split.
std::vector<int64_t> carve_validation(int64_t items, const LstmParams& params, bool given_valid,
                                      std::vector<int64_t>& held_out, const std::vector<uint64_t>& hashes = {}) {
    std::vector<int64_t> all(static_cast<size_t>(items));
    std::iota(all.begin(), all.end(), 0);
    if (given_valid || params.early_stopping_round == 0 || params.validation_fraction == 0.0 || items < 2) return all;
    if (static_cast<int64_t>(hashes.size()) == items) {
        std::vector<int64_t> kept;
        const uint64_t salt = counter_hash(static_cast<uint64_t>(params.seed), 2);
        for (int64_t i = 0; i < items; ++i)
            (data::unit_interval(hashes[static_cast<size_t>(i)], salt) < params.validation_fraction ? held_out : kept)
                .push_back(i);
        if (!held_out.empty() && !kept.empty()) return kept;
        held_out.clear();  // too few sessions to draw by hash: as rows
    }
    auto split = data::random_split(items, params.validation_fraction, static_cast<uint64_t>(params.seed));
    held_out = std::move(split.test);
    return std::move(split.train);
}

void check_early_stopping(const LstmParams& params, bool given_valid) {
    if (params.early_stopping_round > 0 && !given_valid && params.validation_fraction == 0.0)
        throw ParamError("early_stopping_round",
                         "early stopping needs a validation set: pass one, or set validation_fraction > 0");
}

}  // namespace

LstmModel train_lstm(const data::TabularDataset& train, const data::TabularDataset* valid, const LstmParams& params,
                     TrainingLog* log, const ProgressCallback& progress) {
    if (params.arch != "seed") throw ParamError("arch", "rows train arch=seed, got arch=" + params.arch);
    check_early_stopping(params, valid != nullptr);
    const auto standardiser = lstm::fit_standardiser(train);
    LstmModel model = LstmTrainer::describe_inputs(params, train.feature_names, train.categorical,
                                                   train.category_names, 1, standardiser);
    if (valid != nullptr) check_feature_names(train.feature_names, valid->feature_names);
    std::vector<int64_t> held_out;
    auto train_items = carve_validation(train.rows(), params, valid != nullptr, held_out);
    data::TabularDataset carved;
    if (!held_out.empty()) {
        carved = data::take_rows(train, held_out);
        valid = &carved;
    }
    const lstm::TabularSource train_source(train, standardiser);
    std::unique_ptr<lstm::TabularSource> valid_source;
    Validation validation;
    if (valid != nullptr) {
        valid_source = std::make_unique<lstm::TabularSource>(*valid, standardiser);
        validation = {valid_source.get(),
                      [valid](const std::vector<double>& p) { return score_valid_rows(*valid, p); },
                      valid_source->items()};
    }
    LstmTrainer(params, model).run(train_source, std::move(train_items), validation, log, progress);
    return model;
}

LstmModel train_lstm(const data::SequenceDataset& train, const data::SequenceDataset* valid,
                     const LstmParams& params, TrainingLog* log, const ProgressCallback& progress) {
    return train_lstm(train, lstm::fit_standardiser(train), valid, params, log, progress);
}

namespace {

// The held-out sessions' targets and masks, without their inputs (those are
// read in place through the training source): [sessions, steps, 0] inputs.
data::SequenceDataset session_targets(const data::SequenceDataset& data, const std::vector<int64_t>& sessions) {
    data::SequenceDataset targets = data;
    targets.feature_names.clear();
    targets.inputs = Tensor::zeros({data.sessions(), data.max_steps(), 0}, DType::f32);
    targets.read_bytes = nullptr;
    return data::take_sessions(targets, sessions);
}

}  // namespace

LstmModel train_lstm(const data::SequenceDataset& train, const lstm::Standardiser& standardiser,
                     const data::SequenceDataset* valid, const LstmParams& params, TrainingLog* log,
                     const ProgressCallback& progress) {
    require_session_arch(params);
    check_early_stopping(params, valid != nullptr);
    if (standardiser.mean.size() != train.feature_names.size() || standardiser.scale.size() != train.feature_names.size())
        throw Error("train_lstm: a standardiser of " + std::to_string(standardiser.mean.size()) + " features for " +
                    std::to_string(train.feature_names.size()));
    const size_t features = train.feature_names.size();
    LstmModel model = LstmTrainer::describe_inputs(params, train.feature_names, std::vector<bool>(features, false),
                                                   std::vector<std::vector<std::string>>(features),
                                                   train.num_features(), standardiser);
    if (valid != nullptr) check_feature_names(train.feature_names, valid->feature_names);
    std::vector<int64_t> held_out;
    auto train_items = carve_validation(train.sessions(), params, valid != nullptr, held_out, train.session_hash);
    lstm::SequenceSource train_source = session_source(model, train, standardiser);
    std::vector<int64_t> rare_rows;
    if (model.architecture().embedding_dim > 0 && params.track_embedding_min_count > 1) {
        rare_rows = train_source.rare_rows(train_items, params.track_embedding_min_count);
        train_source.exclude_rows(rare_rows);
    }
    // The held-out sessions are read in place, through a source that
    // excludes no rows (the exclusion is for training).
    std::unique_ptr<lstm::SequenceSource> valid_base;
    std::unique_ptr<lstm::BatchSource> valid_source;
    data::SequenceDataset carved;
    if (!held_out.empty()) {
        carved = session_targets(train, held_out);
        valid = &carved;
        valid_base = std::make_unique<lstm::SequenceSource>(session_source(model, train, standardiser));
        valid_source = std::make_unique<lstm::SubsetSource>(*valid_base, std::move(held_out));
    } else if (valid != nullptr) {
        valid_source = std::make_unique<lstm::SequenceSource>(session_source(model, *valid, standardiser));
    }
    Validation validation;
    if (valid != nullptr)
        validation = {valid_source.get(),
                      [valid](const std::vector<double>& p) { return score_valid_sessions(*valid, p, false); },
                      valid_source->items()};
    LstmTrainer(params, model).run(train_source, std::move(train_items), validation, log, progress, rare_rows);
    return model;
}

LstmModel train_lstm(const data::SequenceDataset& train, const ItemPlaces& places, const LstmParams& params,
                     TrainingLog* log, const ProgressCallback& progress, const lstm::Standardiser* fitted) {
    require_session_arch(params);
    check_early_stopping(params, false);
    if (static_cast<int64_t>(places.place.size()) != train.sessions() ||
        (!places.hashes.empty() && static_cast<int64_t>(places.hashes.size()) != places.total))
        throw Error("train_lstm: places for " + std::to_string(places.place.size()) + " of " +
                    std::to_string(train.sessions()) + " sessions");
    const lstm::Standardiser standardiser = fitted != nullptr ? *fitted : fit_standardiser_over_ranks(train);
    const size_t features = train.feature_names.size();
    LstmModel model = LstmTrainer::describe_inputs(params, train.feature_names, std::vector<bool>(features, false),
                                                   std::vector<std::vector<std::string>>(features),
                                                   train.num_features(), standardiser);
    // The hold-out of one process, drawn on every rank's sessions (by hash,
    // or by place when too few): the places to train on and to validate on.
    std::vector<int64_t> held_out;
    auto train_places = carve_validation(places.total, params, false, held_out, places.hashes);
    std::vector<int64_t> local_of(static_cast<size_t>(places.total), -1);
    for (size_t i = 0; i < places.place.size(); ++i) local_of[static_cast<size_t>(places.place[i])] = static_cast<int64_t>(i);
    std::vector<int64_t> mine_held_out, mine_train;
    for (const int64_t place : held_out)
        if (local_of[static_cast<size_t>(place)] >= 0) mine_held_out.push_back(local_of[static_cast<size_t>(place)]);
    for (const int64_t place : train_places)
        if (local_of[static_cast<size_t>(place)] >= 0) mine_train.push_back(local_of[static_cast<size_t>(place)]);
    lstm::SequenceSource train_source = session_source(model, train, standardiser);
    std::vector<int64_t> rare_rows;
    if (model.architecture().embedding_dim > 0 && params.track_embedding_min_count > 1) {
        std::vector<int64_t> counts = train_source.row_counts(mine_train);
        sum_counts(counts);
        rare_rows = lstm::rows_below(counts, params.track_embedding_min_count);
        train_source.exclude_rows(rare_rows);
    }
    // This rank's held-out sessions, read in place; the metrics are reduced.
    const data::SequenceDataset valid = session_targets(train, mine_held_out);
    const lstm::SequenceSource valid_base = session_source(model, train, standardiser);
    const lstm::SubsetSource valid_source(valid_base, std::move(mine_held_out));
    Validation validation;
    if (!held_out.empty())
        validation = {&valid_source,
                      [&valid](const std::vector<double>& p) { return score_valid_sessions(valid, p, true); },
                      static_cast<int64_t>(held_out.size())};
    LstmTrainer(params, model).run(train_source, std::move(train_places), validation, log, progress, rare_rows,
                                   &local_of);
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
    if (!is_session_arch(params_.arch)) throw Error("this LSTM model has arch=" + params_.arch + ": it predicts rows");
    check_feature_names(feature_names_, data.feature_names);
    if (data.sessions() == 0) return {};
    const lstm::SequenceSource source = session_source(*this, data, lstm::Standardiser{feature_mean_, feature_scale_});
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
    // Where and on how many threads the model trained is not where it runs:
    // a model trained with device=cuda loads and predicts on any machine.
    write_stored_params(file, model.params_, lstm_param_table(), {"device", "num_threads"});
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
    const int64_t want_input = is_session_arch(model.params_.arch) ? static_cast<int64_t>(features) : 1;
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
