// The parameter table and the boosting loop.
#include "trainer/gbdt/gbdt.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>

#include "engine/collective.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/gbdt_ops.h"
#include "engine/histogram_ops.h"
#include "trainer/data_parallel.h"
#include "trainer/gbdt/binned_dataset.h"
#include "trainer/gbdt/tree_learner.h"
#include "trainer/metrics/reduced_metrics.h"

namespace skipper {

const std::vector<ParamSpec<GbdtParams>>& gbdt_param_table() {
    using P = GbdtParams;
    constexpr double kBig = 1e15;
    constexpr double kPositive = 1e-300;
    static const std::vector<ParamSpec<P>> table = {
        {"objective", &P::objective, 0, 0, {"binary"}, "learning task (binary log loss)",
         {"objective_type", "app", "application", "loss"}},
        {"learning_rate", &P::learning_rate, kPositive, kBig, {}, "shrinkage applied to every tree's output",
         {"shrinkage_rate", "eta"}},
        {"num_iterations", &P::num_iterations, 0, kBig, {}, "boosting rounds (trees)",
         {"num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds", "nrounds", "num_boost_round",
          "n_estimators", "max_iter"}},
        {"num_leaves", &P::num_leaves, 2, 131072, {}, "most leaves per tree",
         {"num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes"}},
        {"max_depth", &P::max_depth, -1, 1024, {}, "most levels per tree; <= 0 means no limit", {}},
        {"min_data_in_leaf", &P::min_data_in_leaf, 0, kBig, {}, "fewest rows in a leaf",
         {"min_data_per_leaf", "min_data", "min_child_samples", "min_samples_leaf"}},
        {"min_sum_hessian_in_leaf", &P::min_sum_hessian_in_leaf, 0, kBig, {}, "smallest hessian sum in a leaf",
         {"min_sum_hessian_per_leaf", "min_sum_hessian", "min_hessian", "min_child_weight"}},
        {"min_gain_to_split", &P::min_gain_to_split, 0, kBig, {}, "smallest gain a split must bring",
         {"min_split_gain"}},
        {"lambda_l2", &P::lambda_l2, 0, kBig, {}, "L2 penalty on leaf outputs",
         {"reg_lambda", "lambda", "l2_regularization"}},
        {"feature_fraction", &P::feature_fraction, kPositive, 1, {}, "share of features drawn for each tree",
         {"sub_feature", "colsample_bytree"}},
        {"bagging_fraction", &P::bagging_fraction, kPositive, 1, {}, "share of rows drawn for bagging",
         {"sub_row", "subsample", "bagging"}},
        {"bagging_freq", &P::bagging_freq, 0, kBig, {}, "redraw the bag every k trees; 0 disables bagging",
         {"subsample_freq"}},
        {"max_bin", &P::max_bin, 2, 255, {}, "most value bins per feature (plus one for missing values)",
         {"max_bins"}},
        {"bin_construct_sample_cnt", &P::bin_construct_sample_cnt, 1, kBig, {}, "rows sampled to place the bins",
         {"subsample_for_bin"}},
        {"max_cat_to_onehot", &P::max_cat_to_onehot, 1, 255, {},
         "up to this many categories, split one category against the rest", {}},
        {"max_cat_threshold", &P::max_cat_threshold, 1, 255, {}, "most categories on one side of a split", {}},
        {"cat_smooth", &P::cat_smooth, 0, kBig, {}, "smoothing of category means when ordering categories", {}},
        {"cat_l2", &P::cat_l2, 0, kBig, {}, "extra L2 penalty in categorical splits", {}},
        {"min_data_per_group", &P::min_data_per_group, 1, kBig, {}, "fewest rows per category group", {}},
        {"metric", &P::metric, 0, 0, {"binary_logloss", "auc", "binary_error"}, "validation metric",
         {"metrics", "metric_types"}},
        {"is_provide_training_metric", &P::is_provide_training_metric, 0, 0, {}, "also log the metric on the training set",
         {"training_metric", "is_training_metric", "train_metric"}},
        {"early_stopping_round", &P::early_stopping_round, 0, kBig, {},
         "stop after this many rounds without a better validation metric; 0 disables",
         {"early_stopping_rounds", "early_stopping", "n_iter_no_change"}},
        {"seed", &P::seed, 0, 9007199254740992.0, {}, "seed for binning samples, bagging and feature draws",
         {"random_seed", "random_state"}},
        {"num_threads", &P::num_threads, 0, 1024, {}, "CPU threads; 0 means every core",
         {"num_thread", "nthread", "nthreads", "n_jobs"}},
        {"use_quantized_grad", &P::use_quantized_grad, 0, 0, {},
         "train on integer-quantized gradients and hessians, summed exactly", {}},
        {"num_grad_quant_bins", &P::num_grad_quant_bins, 2, 16384, {}, "quantization levels of gradients and hessians",
         {}},
        {"quant_train_renew_leaf", &P::quant_train_renew_leaf, 0, 0, {},
         "with quantized gradients, compute leaf outputs from the exact float sums", {}},
        {"stochastic_rounding", &P::stochastic_rounding, 0, 0, {},
         "round quantized gradients stochastically (else to nearest)", {}},
        {"histogram_block_rows", &P::histogram_block_rows, 1, 2147483647.0, {},
         "rows per histogram block; float models depend on it, quantized ones do not", {}},
        {"force_col_wise", &P::force_col_wise, 0, 0, {}, "build histograms from column-wise bins", {}},
        {"force_row_wise", &P::force_row_wise, 0, 0, {}, "build histograms and partitions from row-wise bins only (no column copy: less memory)", {}},
    };
    return table;
}

void validate_gbdt_params(const GbdtParams& params) {
    // Parsing each value back through the table applies its range and choices
    // with the same messages as the command line.
    GbdtParams check;
    for (const auto& spec : gbdt_param_table()) set_param(check, gbdt_param_table(), spec.name, param_value_string(params, spec));
}

namespace {

void require_data(bool condition, const std::string& what) {
    if (!condition) throw Error("train_gbdt: " + what);
}

void check_dataset(const data::TabularDataset& data, const char* role) {
    const std::string name(role);
    require_data(data.features.defined() && data.features.dim() == 2 && data.features.dtype() == DType::f32 &&
                     data.features.device() == Device::cpu,
                 name + " features must be an f32 host matrix [rows, features]" +
                     (data.features.defined() ? ", got " + data.features.describe() : std::string(", got none")));
    const int64_t rows = data.rows(), features = data.features.size(1);
    require_data(rows > 0, name + " set has no rows");
    require_data(features > 0, name + " set has no features");
    require_data(static_cast<int64_t>(data.feature_names.size()) == features,
                 name + " set has " + std::to_string(features) + " feature columns but " +
                     std::to_string(data.feature_names.size()) + " feature names");
    require_data(static_cast<int64_t>(data.categorical.size()) == features,
                 name + " set has " + std::to_string(data.categorical.size()) + " categorical flags for " +
                     std::to_string(features) + " features");
    require_data(data.labels.defined() && data.labels.dtype() == DType::f32 && data.labels.numel() == rows,
                 name + " labels must be f32 [" + std::to_string(rows) + "]");
    const float* y = data.labels.data<float>();
    for (int64_t r = 0; r < rows; ++r)
        if (y[r] != 0.0f && y[r] != 1.0f)
            throw Error("train_gbdt: " + name + " label at row " + std::to_string(r) + " is " + std::to_string(y[r]) +
                        ", expected 0 or 1");
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Lower is better for log loss and error; higher for AUC.
bool metric_higher_is_better(const std::string& metric) { return metric == "auc"; }

// Over every rank's rows (trainer/metrics/reduced_metrics.h), so that every
// rank takes the same early-stopping decision.
double evaluate(const std::string& metric, const Tensor& labels, const Tensor& scores, std::vector<float>& probabilities) {
    const int64_t n = labels.numel();
    const double* score = scores.data<double>();
    probabilities.resize(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) probabilities[static_cast<size_t>(i)] = static_cast<float>(sigmoid(score[i]));
    const std::span<const float> y(labels.data<float>(), static_cast<size_t>(n));
    if (metric == "auc") return metrics::reduced_roc_auc(y, probabilities);
    if (metric == "binary_error") return 1.0 - metrics::reduced_confusion_matrix(y, probabilities).accuracy();
    return metrics::reduced_log_loss(y, probabilities);
}

// The per-tree feature draw (feature_fraction), at least one feature.
std::vector<uint8_t> draw_features(int64_t features, double fraction, std::mt19937_64& rng) {
    std::vector<uint8_t> used(static_cast<size_t>(features), 1);
    if (fraction >= 1.0) return used;
    const auto keep = std::max<int64_t>(1, static_cast<int64_t>(std::llround(fraction * static_cast<double>(features))));
    std::vector<int64_t> order(static_cast<size_t>(features));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::fill(used.begin(), used.end(), 0);
    for (int64_t i = 0; i < keep; ++i) used[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
    return used;
}

// The schema of a binned set, to check against a model's.
data::TabularDataset schema_of(const gbdt::BinnedDataset& data) {
    data::TabularDataset schema;
    schema.feature_names = data.feature_names;
    schema.categorical = data.categorical;
    return schema;
}

}  // namespace

class GbdtBuilder {
public:
    static GbdtModel train(const gbdt::BinnedDataset& train, const gbdt::BinnedDataset* valid, const GbdtParams& params,
                           TrainingLog* log, const ProgressCallback& progress);
    // Fits the bins on a sample of `train`, bins both sets and trains on them.
    static GbdtModel train(const data::TabularDataset& train, const data::TabularDataset* valid, const GbdtParams& params,
                           TrainingLog* log, const ProgressCallback& progress);
};

GbdtModel GbdtBuilder::train(const gbdt::BinnedDataset& train, const gbdt::BinnedDataset* valid,
                             const GbdtParams& params, TrainingLog* log, const ProgressCallback& progress) {
    const auto start = std::chrono::steady_clock::now();
    validate_gbdt_params(params);
    gbdt::check_binned_dataset(train, "training");
    if (params.early_stopping_round > 0 && valid == nullptr)
        throw ParamError("early_stopping_round", "early stopping needs a validation set");
    if (params.force_col_wise && params.force_row_wise)
        throw ParamError("force_col_wise", "force_col_wise and force_row_wise cannot both be set");

    GbdtModel model;
    model.params_ = params;
    model.feature_names_ = train.feature_names;
    model.categorical_ = train.categorical;
    model.category_names_ = train.category_names;
    model.category_names_.resize(train.feature_names.size());
    if (valid != nullptr) {
        gbdt::check_binned_dataset(*valid, "validation");
        model.check_compatible(schema_of(*valid));
        if (valid->feature_bins != train.feature_bins)
            throw Error("train_gbdt: the validation set was binned with other bins than the training set");
    }

    Context ctx(Device::cpu, static_cast<int>(params.num_threads));
    const auto seed = static_cast<uint64_t>(params.seed);
    const std::vector<gbdt::FeatureBins>& feature_bins = train.feature_bins;
    const Tensor& bins = train.bins;
    gbdt::TreeLearner learner(ctx, bins, feature_bins, params);

    // Data-parallel (trainer/data_parallel.h): `train` and `valid` hold this
    // rank's rows; every global figure (the mean label, the row count, the
    // quantization scale, the histograms, the metrics) is reduced over the
    // ranks, so every rank grows the same trees as one process holding all
    // the rows.
    const bool distributed = collective::size() > 1;
    const int64_t rows = train.rows(), features = train.num_features();
    const float* labels = train.labels.data<float>();
    // Boost from the average: the first score is the log-odds of the mean label.
    std::array<int64_t, 2> counts = {0, rows};  // positives, rows: exact sums
    for (int64_t r = 0; r < rows; ++r) counts[0] += labels[r] != 0.0f ? 1 : 0;
    sum_counts(counts);
    const int64_t global_rows = counts[1];
    const double mean =
        std::clamp(static_cast<double>(counts[0]) / static_cast<double>(global_rows), 1e-15, 1.0 - 1e-15);
    model.init_score_ = std::log(mean / (1.0 - mean));

    Tensor scores = Tensor::empty({rows}, DType::f64);
    std::fill_n(scores.data<double>(), rows, model.init_score_);
    Tensor valid_scores;
    if (valid != nullptr) {
        valid_scores = Tensor::empty({valid->rows()}, DType::f64);
        std::fill_n(valid_scores.data<double>(), valid->rows(), model.init_score_);
    }
    gbdt::GradientStats stats;
    stats.gradients = Tensor::empty({rows}, DType::f32);
    stats.hessians = Tensor::empty({rows}, DType::f32);
    if (params.use_quantized_grad) {
        // Every leaf's integer sums must fit 64 bits: the root's bound covers them all.
        if (ops::quantized_sum_bits(global_rows, params.num_grad_quant_bins) == 0)
            throw ParamError("num_grad_quant_bins", std::to_string(params.num_grad_quant_bins) + " levels over " +
                                                        std::to_string(global_rows) + " rows overflow 64-bit sums; use fewer");
        stats.quantized = Tensor::empty({rows}, DType::i32);
    }
    const std::span<const uint64_t> row_keys(train.row_keys);

    const bool bagging = params.bagging_freq > 0 && params.bagging_fraction < 1.0;
    std::vector<int32_t> bag;
    Tensor out_of_bag = bagging ? Tensor::empty({rows}, DType::u8) : Tensor();
    std::mt19937_64 feature_rng(seed ^ 0xc2b2ae3d27d4eb4full);
    // Data-parallel, without bagging: every row of this rank, listed.
    std::vector<int32_t> my_rows;
    if (distributed && !bagging) {
        my_rows.resize(static_cast<size_t>(rows));
        std::iota(my_rows.begin(), my_rows.end(), 0);
    }

    const bool higher_better = metric_higher_is_better(params.metric);
    double best_value = 0.0;
    int64_t best_iteration = 0;
    std::string stopped = "completed";
    std::vector<float> probabilities;

    double gradient_seconds = 0.0, score_seconds = 0.0, metric_seconds = 0.0;
    for (int64_t it = 1; it <= params.num_iterations; ++it) {
        std::optional<gbdt::ScopeSeconds> timer(std::in_place, gradient_seconds);
        const ops::GradientExtent extent =
            ops::logloss_gradients(ctx, train.labels, scores, stats.gradients, stats.hessians);
        if (params.use_quantized_grad) {
            // The scale comes from the global extent (one max over every row,
            // wherever the rows live), the rounding from each row's key.
            stats.scale = ops::quant_scale(max_extent(extent), params.num_grad_quant_bins);
            ops::quantize_gradients(ctx, stats.gradients, stats.hessians, row_keys,
                                    gbdt::row_draw_seed(seed, gbdt::RowDraw::gradient_rounding, static_cast<uint64_t>(it)),
                                    params.stochastic_rounding, stats.scale, params.num_grad_quant_bins, stats.quantized);
        }
        if (bagging && (it - 1) % params.bagging_freq == 0) {
            // Each row's draw hashes its key: the bag does not depend on row order.
            const uint64_t round_seed =
                gbdt::row_draw_seed(seed, gbdt::RowDraw::bagging, static_cast<uint64_t>((it - 1) / params.bagging_freq));
            // The tree walk below skips the rows in the bag (the partition
            // updates them) and scores the rows out of it.
            uint8_t* skip = out_of_bag.data<uint8_t>();
            bag.clear();
            for (int64_t r = 0; r < rows; ++r) {
                const bool keep = counter_uniform(round_seed, train.row_key(r)) < params.bagging_fraction;
                skip[r] = keep ? 1 : 0;
                if (keep) bag.push_back(static_cast<int32_t>(r));
            }
            // A tiny set can draw nothing; keep its first row (rank 0's first).
            if (sum_count(static_cast<int64_t>(bag.size())) == 0 && collective::is_root() && rows > 0) {
                bag.push_back(0);
                skip[0] = 1;
            }
        }
        timer.reset();
        const std::vector<uint8_t> feature_used = draw_features(features, params.feature_fraction, feature_rng);
        if (!distributed) {
            GbdtTree tree = learner.grow(stats, bag, feature_used);
            timer.emplace(score_seconds);
            // Rows in the bag take their leaf's value straight from the partition;
            // rows outside it, and validation rows, walk the tree in bin space.
            learner.add_leaf_scores(scores);
            if (bagging) ops::tree_add_scores(ctx, learner.binned_tree(), bins, out_of_bag, scores);
            model.trees_.push_back(std::move(tree));
        } else {
            // Data-parallel: the histograms of this rank's rows (of its part
            // of the bag), summed over the ranks by the learner, then every
            // row of this rank walks the tree.
            model.trees_.push_back(learner.grow(stats, bagging ? bag : my_rows, feature_used));
            timer.emplace(score_seconds);
            ops::tree_add_scores(ctx, learner.binned_tree(), bins, Tensor(), scores);
        }
        if (valid != nullptr) ops::tree_add_scores(ctx, learner.binned_tree(), valid->bins, Tensor(), valid_scores);
        timer.emplace(metric_seconds);

        IterationRecord record;
        record.iteration = it;
        record.total = params.num_iterations;
        if (params.is_provide_training_metric)
            record.metrics["train_" + params.metric] = evaluate(params.metric, train.labels, scores, probabilities);
        bool stop = false;
        if (valid != nullptr) {
            const double value = evaluate(params.metric, valid->labels, valid_scores, probabilities);
            record.metrics["valid_" + params.metric] = value;
            if (best_iteration == 0 || (higher_better ? value > best_value : value < best_value)) {
                best_value = value;
                best_iteration = it;
            } else if (params.early_stopping_round > 0 && it - best_iteration >= params.early_stopping_round) {
                stop = true;
                stopped = "early stopping at iteration " + std::to_string(it) + ": best " + params.metric + " " +
                          std::to_string(best_value) + " at iteration " + std::to_string(best_iteration);
            }
        }
        timer.reset();
        record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (log != nullptr) log->records.push_back(record);
        if (progress) progress(record);
        if (stop) break;
    }
    if (params.early_stopping_round > 0 && best_iteration > 0)
        model.trees_.resize(static_cast<size_t>(best_iteration));
    if (log != nullptr) {
        log->best_iteration = best_iteration;
        log->stopped_reason = stopped;
        log->phase_seconds["gradients"] += gradient_seconds;
        log->phase_seconds["histograms"] += learner.seconds().histograms;
        log->phase_seconds["layout"] = learner.seconds().layout;
        log->phase_seconds["partition"] += learner.seconds().partition;
        log->phase_seconds["splits"] += learner.seconds().splits;
        log->phase_seconds["scores"] += score_seconds;
        log->phase_seconds["metrics"] += metric_seconds;
    }
    return model;
}

GbdtModel train_gbdt(const gbdt::BinnedDataset& train, const gbdt::BinnedDataset* valid, const GbdtParams& params,
                     TrainingLog* log, const ProgressCallback& progress) {
    return GbdtBuilder::train(train, valid, params, log, progress);
}

GbdtModel GbdtBuilder::train(const data::TabularDataset& train, const data::TabularDataset* valid,
                             const GbdtParams& params, TrainingLog* log, const ProgressCallback& progress) {
    validate_gbdt_params(params);
    check_dataset(train, "training");
    if (valid != nullptr) check_dataset(*valid, "validation");
    double bin_seconds = 0.0;
    std::optional<gbdt::ScopeSeconds> timer(std::in_place, bin_seconds);
    const gbdt::BinnedDataset binned_train = bin_training_set(train, params);
    std::optional<gbdt::BinnedDataset> binned_valid;
    if (valid != nullptr) {
        GbdtModel schema;
        schema.feature_names_ = train.feature_names;
        schema.categorical_ = train.categorical;
        schema.check_compatible(*valid);
        binned_valid = gbdt::bin_dataset(*valid, binned_train.feature_bins);
    }
    timer.reset();
    if (log != nullptr) log->phase_seconds["bins"] += bin_seconds;
    if (collective::size() > 1) {
        // Every rank holds every row here (and fitted the same bins on them):
        // each trains on its share of the sessions, keeping the rows' keys.
        const auto share_of = [](const gbdt::BinnedDataset& all) {
            return take_rank_rows(all, rank_share_of_runs(all.session_index, all.rows()));
        };
        const gbdt::BinnedDataset my_valid = binned_valid ? share_of(*binned_valid) : gbdt::BinnedDataset();
        return GbdtBuilder::train(share_of(binned_train), binned_valid ? &my_valid : nullptr, params, log, progress);
    }
    return GbdtBuilder::train(binned_train, binned_valid ? &*binned_valid : nullptr, params, log, progress);
}

gbdt::BinnedDataset bin_training_set(const data::TabularDataset& train, const GbdtParams& params) {
    return gbdt::bin_dataset(train, gbdt::fit_feature_bins(train, params.max_bin, params.bin_construct_sample_cnt,
                                                           static_cast<uint64_t>(params.seed)));
}

GbdtModel train_gbdt(const data::TabularDataset& train, const data::TabularDataset* valid, const GbdtParams& params,
                     TrainingLog* log, const ProgressCallback& progress) {
    return GbdtBuilder::train(train, valid, params, log, progress);
}

}  // namespace skipper
