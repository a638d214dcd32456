// Gradient-boosted decision trees for binary classification, after
// LightGBM's and XGBoost's `hist` methods: quantile binning to one byte per
// value (with a bin for missing values), native categorical splits,
// histograms over leaf-ordered rows with the subtraction trick, and leaf-wise
// growth bounded by num_leaves and max_depth. Parameter names and defaults
// are LightGBM's.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/params.h"
#include "engine/tensor.h"
#include "trainer/data/dataset.h"
#include "trainer/gbdt/binned_dataset.h"
#include "trainer/training_log.h"

namespace skipper {

struct GbdtParams {
    std::string objective = "binary";
    double learning_rate = 0.1;
    int64_t num_iterations = 100;
    int64_t num_leaves = 31;
    int64_t max_depth = -1;  // <= 0: no limit
    int64_t min_data_in_leaf = 20;
    double min_sum_hessian_in_leaf = 1e-3;
    double min_gain_to_split = 0.0;
    double lambda_l2 = 0.0;
    double feature_fraction = 1.0;  // share of features drawn for each tree
    double bagging_fraction = 1.0;  // share of rows drawn every bagging_freq trees
    int64_t bagging_freq = 0;       // 0: no bagging
    int64_t max_bin = 255;
    int64_t bin_construct_sample_cnt = 200000;
    // Categorical splits, as in LightGBM.
    int64_t max_cat_to_onehot = 4;  // up to this many categories: one category vs the rest
    int64_t max_cat_threshold = 32;  // most categories on one side of a many-vs-many split
    double cat_smooth = 10.0;
    double cat_l2 = 10.0;
    int64_t min_data_per_group = 100;
    // The validation metric, logged every iteration and watched by early stopping.
    std::string metric = "binary_logloss";
    bool is_provide_training_metric = false;  // also log the metric on the training set
    int64_t early_stopping_round = 0;  // 0: off; needs a validation set
    int64_t seed = 0;
    int64_t num_threads = 0;  // 0: every core
    // Quantized training (LightGBM 4, Shi et al. 2022): gradients and
    // hessians rounded to integers with a per-iteration scale and summed
    // exactly, so the model does not depend on thread count or block size.
    bool use_quantized_grad = false;
    int64_t num_grad_quant_bins = 4;
    bool quant_train_renew_leaf = false;  // leaf outputs from the exact float sums
    bool stochastic_rounding = true;
    // Rows per histogram block (how a run is executed, not stored in models).
    // Float sums are added in blocks, so the float model depends on it; the
    // quantized model does not.
    int64_t histogram_block_rows = 8192;
    // The histogram layout (LightGBM's names; neither: chosen by
    // choose_histogram_layout, row-wise histograms with a column copy for the
    // partitions). force_row_wise keeps no column copy (rows x F bytes less).
    // Every layout gives the same model.
    bool force_col_wise = false;
    bool force_row_wise = false;
};

// name, default, range and help of every parameter, with LightGBM's aliases
// (n_estimators, num_trees, eta, ...).
const std::vector<ParamSpec<GbdtParams>>& gbdt_param_table();
// Checks every field against the table's range (for parameters set in code
// rather than parsed); throws ParamError naming the parameter.
void validate_gbdt_params(const GbdtParams& params);

enum class ImportanceType { split, gain };

// One tree. Internal nodes are 0..nodes-1 (0 is the root); a child index c < 0
// names leaf ~c. Numeric split: value <= threshold goes left, NaN goes to the
// default side. Categorical split: codes in the node's bitset go left; NaN,
// negative, unseen and out-of-range codes go right.
struct GbdtTree {
    std::vector<int32_t> split_feature;
    std::vector<double> threshold;
    std::vector<uint8_t> default_left;
    std::vector<uint8_t> categorical;
    std::vector<int32_t> left_child;
    std::vector<int32_t> right_child;
    std::vector<double> split_gain;
    std::vector<int32_t> cat_begin;  // per node: first word in cat_bitsets
    std::vector<int32_t> cat_words;  // per node: word count (0 for numeric)
    std::vector<uint32_t> cat_bitsets;
    std::vector<double> leaf_value;  // shrinkage already applied

    int64_t num_leaves() const { return static_cast<int64_t>(leaf_value.size()); }
    // The leaf a row of raw features (f32, NaN = missing) falls into.
    int32_t leaf_index(const float* row) const;
};

class GbdtModel {
public:
    GbdtModel() = default;

    // P(label = 1) per row. The dataset's feature names must match the model's
    // (an Error names the first difference). OpenMP over rows.
    std::vector<double> predict_proba(const data::TabularDataset& data) const;
    // features: f32 [rows, num_features] in the model's feature order.
    std::vector<double> predict_proba(const Tensor& features) const;
    // One row in the model's feature order: no allocation, no threads.
    double predict_proba_row(std::span<const float> row) const;
    // Raw scores (log-odds) likewise.
    std::vector<double> predict_raw(const Tensor& features) const;
    double predict_raw_row(std::span<const float> row) const;
    // 1 where P(label = 1) > threshold, else 0.
    std::vector<int32_t> predict(const data::TabularDataset& data, double threshold = 0.5) const;

    // Per feature: how many splits use it, or the total gain of those splits.
    std::vector<double> feature_importance(ImportanceType type) const;

    // Through engine/serialize.h: atomic write, checksum, version.
    void save(const std::string& path) const;
    static GbdtModel load(const std::string& path);
    std::vector<uint8_t> to_bytes() const;
    static GbdtModel from_bytes(const std::vector<uint8_t>& bytes, const std::string& origin);

    // Throws Error naming the first difference in feature count, names or
    // categorical flags between the model and `data`.
    void check_compatible(const data::TabularDataset& data) const;

    const std::vector<std::string>& feature_names() const { return feature_names_; }
    const std::vector<bool>& categorical() const { return categorical_; }
    const std::vector<std::vector<std::string>>& category_names() const { return category_names_; }
    int64_t num_features() const { return static_cast<int64_t>(feature_names_.size()); }
    int64_t num_trees() const { return static_cast<int64_t>(trees_.size()); }
    const std::vector<GbdtTree>& trees() const { return trees_; }
    double init_score() const { return init_score_; }
    const GbdtParams& params() const { return params_; }

private:
    friend class GbdtBuilder;

    GbdtParams params_;
    std::vector<std::string> feature_names_;
    std::vector<bool> categorical_;
    std::vector<std::vector<std::string>> category_names_;
    double init_score_ = 0.0;
    std::vector<GbdtTree> trees_;
};

// Trains on `train`. With `valid`, records the metric on it every iteration
// ("valid_binary_logloss", "valid_auc" or "valid_binary_error") and, when
// early_stopping_round > 0, stops after that many rounds without a better
// value and keeps the trees up to the best round. With
// is_provide_training_metric, "train_<metric>" too. Bad data (shapes, labels
// other than 0/1, a valid set whose columns differ) is an Error naming it.
GbdtModel train_gbdt(const data::TabularDataset& train, const data::TabularDataset* valid, const GbdtParams& params,
                     TrainingLog* log = nullptr, const ProgressCallback& progress = {});
// `train` binned as the TabularDataset overload bins it (fit_feature_bins on
// bin_construct_sample_cnt rows, then bin_dataset): for a caller that lets
// the float matrix go before training, as LightGBM's free_raw_data.
gbdt::BinnedDataset bin_training_set(const data::TabularDataset& train, const GbdtParams& params);
// The same on sets already binned (train.feature_bins; `valid` must carry the
// same bins). The TabularDataset overload is fit_feature_bins on a sample of
// `train`, bin_dataset of both sets, then this. bin_construct_sample_cnt and
// max_bin are not used here: the bins are given.
GbdtModel train_gbdt(const gbdt::BinnedDataset& train, const gbdt::BinnedDataset* valid, const GbdtParams& params,
                     TrainingLog* log = nullptr, const ProgressCallback& progress = {});

}  // namespace skipper
