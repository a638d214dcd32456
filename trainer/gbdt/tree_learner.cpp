#include "trainer/gbdt/tree_learner.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include <cmath>

#include "engine/collective.h"
#include "trainer/data_parallel.h"

namespace skipper::gbdt {

namespace {

// Which side of a split each of the 256 possible bins goes to.
std::vector<uint8_t> left_mask(const SplitCandidate& split, const FeatureBins& bins) {
    std::vector<uint8_t> mask(256, 0);
    if (split.categorical) {
        for (int32_t b : split.left_bins) mask[static_cast<size_t>(b)] = 1;
    } else {
        for (int32_t b = 0; b <= split.threshold_bin; ++b) mask[static_cast<size_t>(b)] = 1;
        mask[static_cast<size_t>(bins.missing_bin())] = split.default_left ? 1 : 0;
    }
    return mask;
}

// Appends the split's rule, in raw feature values, as node `node` of `tree`.
void add_node(GbdtTree& tree, const SplitCandidate& split, const FeatureBins& bins) {
    tree.split_feature.push_back(split.feature);
    tree.split_gain.push_back(split.gain);
    tree.default_left.push_back(split.default_left ? 1 : 0);
    tree.categorical.push_back(split.categorical ? 1 : 0);
    tree.left_child.push_back(0);
    tree.right_child.push_back(0);
    if (!split.categorical) {
        tree.threshold.push_back(bins.upper_bounds[static_cast<size_t>(split.threshold_bin)]);
        tree.cat_begin.push_back(static_cast<int32_t>(tree.cat_bitsets.size()));
        tree.cat_words.push_back(0);
        return;
    }
    int32_t max_code = 0;
    for (int32_t b : split.left_bins) max_code = std::max(max_code, bins.bin_category[static_cast<size_t>(b)]);
    const int32_t words = max_code / 32 + 1;
    tree.threshold.push_back(0.0);
    tree.cat_begin.push_back(static_cast<int32_t>(tree.cat_bitsets.size()));
    tree.cat_words.push_back(words);
    tree.cat_bitsets.resize(tree.cat_bitsets.size() + static_cast<size_t>(words), 0u);
    uint32_t* bits = tree.cat_bitsets.data() + tree.cat_begin.back();
    for (int32_t b : split.left_bins) {
        const int32_t code = bins.bin_category[static_cast<size_t>(b)];
        bits[code / 32] |= 1u << (code % 32);
    }
}

}  // namespace

TreeLearner::TreeLearner(Context& ctx, const Tensor& bins, const std::vector<FeatureBins>& feature_bins,
                         const GbdtParams& params)
    : ctx_(ctx), bins_(bins), feature_bins_(feature_bins), params_(params) {
    rows_ = bins.size(0);
    num_features_ = bins.size(1);
    quantized_ = params.use_quantized_grad;
    histogram_rows_.bins = bins;
    {
        const ScopeSeconds timer(seconds_.layout);
        layout_ = ops::choose_histogram_layout(bins.size(1), params.force_col_wise, params.force_row_wise);
        if (layout_ != ops::HistogramLayout::row_wise) histogram_rows_.columns = ops::bins_column_major(ctx, bins);
        if (layout_ == ops::HistogramLayout::col_wise) histogram_rows_.bins = Tensor();
    }
    histogram_rows_.feature_offsets = histogram_offsets(feature_bins);
    if (quantized_ && layout_ == ops::HistogramLayout::hybrid) {
        // Bundles need the split features' columns (the rows hold bundles) and
        // exact sums. The bundled copy costs rows x bundles bytes: it is made
        // only when it saves at least a quarter of the adds (the seed task's
        // 13 features make 6 bundles; the session task's 49, where 31 have
        // 256 bins, make about 40).
        const ScopeSeconds timer(seconds_.layout);
        std::vector<int32_t> num_bins;
        for (const FeatureBins& f : feature_bins) num_bins.push_back(f.num_bins());
        bundles_ = ops::bundle_features(num_bins);
        const auto bundles = static_cast<int64_t>(bundles_.cells.size());
        if (4 * bundles <= 3 * num_features_) {
            bundled_ = true;
            histogram_rows_.bins = ops::bundle_bins(ctx, bins, bundles_);
            std::vector<int32_t> offsets(static_cast<size_t>(bundles) + 1, 0);
            for (size_t b = 0; b < bundles_.cells.size(); ++b) offsets[b + 1] = offsets[b] + bundles_.cells[b];
            histogram_rows_.feature_offsets = Tensor::from_vector<int32_t>(offsets, {bundles + 1});
        }
    }
    histogram_rows_.quant_bins = quantized_ ? params.num_grad_quant_bins : 0;
    histogram_rows_.block_rows = params.histogram_block_rows;
    offsets_host_ = histogram_rows_.feature_offsets.to_vector<int32_t>();
    for (int64_t l = 0; l < params.num_leaves; ++l) histograms_.push_back(ops::histogram_empty(histogram_rows_));
    partition_ = Tensor::empty({rows_}, DType::i32);
    row_scratch_ = Tensor::empty({rows_}, DType::i32);
    goes_left_ = Tensor::empty({256}, DType::u8);
    leaf_ranges_.resize(static_cast<size_t>(params.num_leaves));
}

Tensor TreeLearner::leaf_rows(int32_t leaf) const {
    const Range range = leaf_ranges_[static_cast<size_t>(leaf)];
    return partition_.slice_rows(range.begin, range.begin + range.count);
}

void TreeLearner::add_leaf_scores(Tensor& scores) {
    const int64_t leaves = binned_tree_.leaf_value.numel();
    std::vector<int64_t> begin(static_cast<size_t>(leaves)), count(static_cast<size_t>(leaves));
    for (int64_t l = 0; l < leaves; ++l) {
        begin[static_cast<size_t>(l)] = leaf_ranges_[static_cast<size_t>(l)].begin;
        count[static_cast<size_t>(l)] = leaf_ranges_[static_cast<size_t>(l)].count;
    }
    ops::leaf_add_scores(ctx_, partition_, begin, count, binned_tree_.leaf_value, scores);
}

void TreeLearner::feature_sums(const Tensor& histogram, const LeafSums& leaf, int64_t f,
                               std::vector<LeafSums>& out) const {
    const auto fi = static_cast<size_t>(f);
    if (!quantized_) {
        const int32_t begin = offsets_host_[fi];
        const int32_t bins = offsets_host_[fi + 1] - begin;
        out.resize(static_cast<size_t>(bins));
        const double* h = histogram.data<double>() + ops::kHistogramFloatStats * begin;
        for (int32_t b = 0; b < bins; ++b) {
            const double* s = h + ops::kHistogramFloatStats * b;
            out[static_cast<size_t>(b)] = {s[0], s[1], static_cast<int64_t>(s[2])};
        }
        return;
    }
    const auto* slots = static_cast<const uint64_t*>(histogram.raw());
    const int32_t bins = feature_bins_[fi].num_bins();
    std::array<uint64_t, 256> bundled_sums{};
    const uint64_t* h = bundled_ ? bundled_sums.data() : slots + offsets_host_[fi];
    if (bundled_) {
        // Bin b of the feature: the bundle's cells whose code has digit b at
        // the feature's stride. Wrapping sums of packed pairs are exact.
        const auto bundle = static_cast<size_t>(bundles_.bundle[fi]);
        const int32_t stride = bundles_.stride[fi];
        const uint64_t* cells = slots + offsets_host_[bundle];
        for (int32_t c = 0; c < bundles_.cells[bundle]; ++c)
            bundled_sums[static_cast<size_t>(c / stride % bins)] += cells[c];
    }
    // Quantized sums hold no row counts: a bin's count is its share of the
    // leaf's quantized hessian times the leaf's rows (LightGBM's estimate).
    out.resize(static_cast<size_t>(bins));
    const double leaf_hessian = leaf.hessians / scale_.hessian;
    const double count_per_hessian = leaf_hessian > 0.0 ? static_cast<double>(leaf.count) / leaf_hessian : 0.0;
    for (int32_t b = 0; b < bins; ++b) {
        const auto g = static_cast<double>(ops::quantized_gradient_sum(h[b]));
        const auto q = static_cast<double>(ops::quantized_hessian_sum(h[b]));
        out[static_cast<size_t>(b)] = {g * scale_.gradient, q * scale_.hessian, std::llround(q * count_per_hessian)};
    }
}

LeafSums TreeLearner::histogram_leaf_sums(const Tensor& histogram, int64_t count) const {
    // Every feature's bins sum to the leaf; feature 0's are the fewest to read.
    const int32_t bins = offsets_host_[1];
    LeafSums out;
    out.count = count;
    if (!quantized_) {
        const double* h = histogram.data<double>();
        for (int32_t b = 0; b < bins; ++b) {
            out.gradients += h[ops::kHistogramFloatStats * b];
            out.hessians += h[ops::kHistogramFloatStats * b + 1];
        }
        return out;
    }
    const auto* h = static_cast<const uint64_t*>(histogram.raw());
    uint64_t total = 0;
    for (int32_t b = 0; b < bins; ++b) total += h[b];
    out.gradients = static_cast<double>(ops::quantized_gradient_sum(total)) * scale_.gradient;
    out.hessians = static_cast<double>(ops::quantized_hessian_sum(total)) * scale_.hessian;
    return out;
}

SplitCandidate TreeLearner::best_split(const Tensor& histogram, const LeafSums& sums, int32_t depth) {
    const ScopeSeconds timer(seconds_.splits);
    SplitCandidate best;
    if (params_.max_depth > 0 && depth >= params_.max_depth) return best;
    if (sums.count < 2 * params_.min_data_in_leaf || sums.hessians < 2 * params_.min_sum_hessian_in_leaf) return best;
    std::vector<LeafSums> feature_bins;
    for (int64_t f = 0; f < num_features_; ++f) {
        if (!feature_used_[static_cast<size_t>(f)]) continue;
        feature_sums(histogram, sums, f, feature_bins);
        find_best_split(feature_bins.data(), feature_bins_[static_cast<size_t>(f)], static_cast<int32_t>(f), sums,
                        params_, best);
    }
    return best;
}

GbdtTree TreeLearner::grow(const GradientStats& stats, const std::vector<int32_t>& rows,
                           const std::vector<uint8_t>& feature_used) {
    histogram_rows_.gradients = stats.gradients;
    histogram_rows_.hessians = stats.hessians;
    histogram_rows_.quantized = stats.quantized;
    scale_ = stats.scale;
    feature_used_ = feature_used;
    // Data-parallel, `rows` always lists this rank's rows (it may hold none).
    const bool all_rows = rows.empty() && collective::size() == 1;
    int32_t* part = partition_.data<int32_t>();
    int64_t root_count = rows_;
    if (all_rows) {
        for (int64_t r = 0; r < rows_; ++r) part[r] = static_cast<int32_t>(r);
    } else {
        std::memcpy(part, rows.data(), rows.size() * sizeof(int32_t));
        root_count = static_cast<int64_t>(rows.size());
    }
    leaf_ranges_[0] = {0, root_count};
    if (!histogram_scratch_.defined()) histogram_scratch_ = ops::histogram_scratch(histogram_rows_, rows_);

    const int32_t max_leaves = static_cast<int32_t>(params_.num_leaves);
    std::vector<SplitCandidate> best(static_cast<size_t>(max_leaves));
    std::vector<LeafSums> sums(static_cast<size_t>(max_leaves));
    std::vector<int32_t> depth(static_cast<size_t>(max_leaves), 0);
    // Where each leaf hangs: the parent node and side (-1: the leaf is the root).
    std::vector<int32_t> parent_node(static_cast<size_t>(max_leaves), -1);
    std::vector<uint8_t> parent_left(static_cast<size_t>(max_leaves), 0);
    std::vector<uint8_t> node_goes_left;

    // Data-parallel: `rows` are this rank's; every histogram is summed over
    // the ranks (sum_histogram) and every count too, so each rank sees the
    // whole data's histograms and grows the same tree.
    {
        const ScopeSeconds timer(seconds_.histograms);
        ops::histogram_build(ctx_, histogram_rows_, all_rows ? Tensor() : leaf_rows(0), histograms_[0],
                             histogram_scratch_);
    }
    sum_histogram(histograms_[0]);
    sums[0] = histogram_leaf_sums(histograms_[0], sum_count(root_count));
    best[0] = best_split(histograms_[0], sums[0], 0);

    GbdtTree tree;
    int32_t leaves = 1;
    while (leaves < max_leaves) {
        int32_t chosen = -1;
        for (int32_t l = 0; l < leaves; ++l)
            if (best[static_cast<size_t>(l)].admissible() &&
                (chosen < 0 || best[static_cast<size_t>(l)].gain > best[static_cast<size_t>(chosen)].gain))
                chosen = l;
        if (chosen < 0) break;
        const SplitCandidate split = best[static_cast<size_t>(chosen)];
        const int32_t left = chosen, right = leaves++;

        const auto node = static_cast<int32_t>(tree.split_feature.size());
        const FeatureBins& split_bins = feature_bins_[static_cast<size_t>(split.feature)];
        add_node(tree, split, split_bins);
        const std::vector<uint8_t> mask = left_mask(split, split_bins);
        node_goes_left.insert(node_goes_left.end(), mask.begin(), mask.end());
        if (parent_node[static_cast<size_t>(chosen)] >= 0) {
            auto& child = parent_left[static_cast<size_t>(chosen)] ? tree.left_child : tree.right_child;
            child[static_cast<size_t>(parent_node[static_cast<size_t>(chosen)])] = node;
        }
        tree.left_child[static_cast<size_t>(node)] = ~left;
        tree.right_child[static_cast<size_t>(node)] = ~right;
        parent_node[static_cast<size_t>(left)] = node;
        parent_left[static_cast<size_t>(left)] = 1;
        parent_node[static_cast<size_t>(right)] = node;
        parent_left[static_cast<size_t>(right)] = 0;

        const Range range = leaf_ranges_[static_cast<size_t>(chosen)];
        std::memcpy(goes_left_.data<uint8_t>(), mask.data(), mask.size());
        Tensor range_rows = leaf_rows(chosen);
        const int32_t child_depth = depth[static_cast<size_t>(chosen)] + 1;
        depth[static_cast<size_t>(left)] = depth[static_cast<size_t>(right)] = child_depth;
        // Children at max_depth, or the tree's last two leaves, are never
        // split: partition only, with no histogram (LightGBM skips them too).
        // Every rank takes the same decision (depth and leaf count are global).
        const bool children_split = (params_.max_depth <= 0 || child_depth < params_.max_depth) && leaves < max_leaves;
        if (!children_split) {
            int64_t left_count = 0;
            {
                const ScopeSeconds timer(seconds_.partition);
                left_count = ops::partition_rows(ctx_, histogram_rows_, split.feature, goes_left_, range_rows, row_scratch_);
            }
            leaf_ranges_[static_cast<size_t>(left)] = {range.begin, left_count};
            leaf_ranges_[static_cast<size_t>(right)] = {range.begin + left_count, range.count - left_count};
            // The split's own sums (exact integer sums times the scale in
            // quantized mode), with exact row counts.
            // (slot `left` is the parent's: read its count first).
            const int64_t parent_count = sums[static_cast<size_t>(chosen)].count;
            const int64_t global_left = sum_count(left_count);
            sums[static_cast<size_t>(left)] = split.left;
            sums[static_cast<size_t>(left)].count = global_left;
            sums[static_cast<size_t>(right)] = split.right;
            sums[static_cast<size_t>(right)].count = parent_count - global_left;
            best[static_cast<size_t>(left)] = SplitCandidate{};
            best[static_cast<size_t>(right)] = SplitCandidate{};
            continue;
        }

        // The parent's histogram sits in slot `left`. Partition its rows and,
        // in the same pass, build the child the split search expects to be
        // smaller into slot `right`; the other child is the parent minus it
        // (correct either way: the guess only decides which is cheaper).
        // Then swap the slots when the built child is the left one.
        const bool build_left = split.left.count < split.right.count;
        Tensor& parent_hist = histograms_[static_cast<size_t>(left)];
        Tensor& fresh_hist = histograms_[static_cast<size_t>(right)];
        int64_t left_count = 0;
        {
            const ScopeSeconds timer(seconds_.partition);
            left_count = ops::partition_histogram(ctx_, histogram_rows_, split.feature, goes_left_, build_left,
                                                  range_rows, row_scratch_, fresh_hist, histogram_scratch_);
        }
        sum_histogram(fresh_hist);
        {
            const ScopeSeconds timer(seconds_.histograms);
            ops::histogram_subtract(ctx_, parent_hist, fresh_hist, parent_hist);
        }
        if (build_left) std::swap(parent_hist, fresh_hist);
        leaf_ranges_[static_cast<size_t>(left)] = {range.begin, left_count};
        leaf_ranges_[static_cast<size_t>(right)] = {range.begin + left_count, range.count - left_count};
        if (quantized_) {
            // Exact children: their own integer totals and row counts.
            const int64_t parent_count = sums[static_cast<size_t>(chosen)].count;
            const int64_t global_left = sum_count(left_count);
            sums[static_cast<size_t>(left)] = histogram_leaf_sums(histograms_[static_cast<size_t>(left)], global_left);
            sums[static_cast<size_t>(right)] =
                histogram_leaf_sums(histograms_[static_cast<size_t>(right)], parent_count - global_left);
        } else {
            sums[static_cast<size_t>(left)] = split.left;
            sums[static_cast<size_t>(right)] = split.right;
        }

        best[static_cast<size_t>(left)] =
            best_split(histograms_[static_cast<size_t>(left)], sums[static_cast<size_t>(left)], child_depth);
        best[static_cast<size_t>(right)] =
            best_split(histograms_[static_cast<size_t>(right)], sums[static_cast<size_t>(right)], child_depth);
    }

    tree.leaf_value.resize(static_cast<size_t>(leaves));
    for (int32_t l = 0; l < leaves; ++l) {
        LeafSums s = sums[static_cast<size_t>(l)];
        if (quantized_ && params_.quant_train_renew_leaf) {
            // The output from the exact float sums of the leaf's rows, in
            // fixed blocks: the model stays independent of histogram_block_rows.
            const ops::LeafStatSums exact =
                ops::leaf_sums(ctx_, stats.gradients, stats.hessians, leaf_rows(l), ops::kDefaultHistogramBlockRows);
            // Over the ranks: equal to one process's up to the order of the sum.
            std::array<double, 2> both = {exact.gradients, exact.hessians};
            if (collective::size() > 1) collective::allreduce_sum(std::span(both));
            s.gradients = both[0];
            s.hessians = both[1];
        }
        tree.leaf_value[static_cast<size_t>(l)] =
            params_.learning_rate * leaf_output(s.gradients, s.hessians, params_.lambda_l2);
    }

    const auto nodes = static_cast<int64_t>(tree.split_feature.size());
    binned_tree_.split_feature = Tensor::from_vector<int32_t>(tree.split_feature, {nodes});
    binned_tree_.left_child = Tensor::from_vector<int32_t>(tree.left_child, {nodes});
    binned_tree_.right_child = Tensor::from_vector<int32_t>(tree.right_child, {nodes});
    binned_tree_.goes_left = Tensor::from_vector<uint8_t>(node_goes_left, {nodes, 256});
    binned_tree_.leaf_value = Tensor::from_vector<double>(tree.leaf_value, {static_cast<int64_t>(leaves)});
    return tree;
}

}  // namespace skipper::gbdt
