#include "trainer/gbdt/tree_learner.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/histogram_ops.h"
#include "kernels/cpu/histogram.h"

namespace skipper::gbdt {

namespace {

constexpr int64_t kPartitionBlockRows = 16384;
constexpr int64_t kPartitionMaxBlocks = 64;

// Which side of a split each bin goes to.
std::vector<uint8_t> left_mask(const SplitCandidate& split, const FeatureBins& bins) {
    std::vector<uint8_t> mask(static_cast<size_t>(bins.num_bins()), 0);
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
    offsets_ = histogram_offsets(feature_bins);
    offsets_host_ = offsets_.to_vector<int32_t>();
    const int64_t total_bins = offsets_host_.back();
    for (int64_t l = 0; l < params.num_leaves; ++l)
        histograms_.push_back(Tensor::empty({total_bins, cpu::kHistogramStats}, DType::f64));
    partition_ = Tensor::empty({rows_}, DType::i32);
    scratch_.resize(static_cast<size_t>(rows_));
    leaf_ranges_.resize(static_cast<size_t>(params.num_leaves));
}

void TreeLearner::build_histogram(int32_t leaf, Tensor& histogram) {
    const Range range = leaf_ranges_[static_cast<size_t>(leaf)];
    const Tensor rows = all_rows_ && range.count == rows_ ? Tensor() : partition_.slice_rows(range.begin, range.begin + range.count);
    ops::histogram_build(ctx_, bins_, offsets_, *gradients_, *hessians_, rows, histogram);
}

SplitCandidate TreeLearner::best_split(const Tensor& histogram, const LeafSums& sums, int32_t depth) const {
    SplitCandidate best;
    if (params_.max_depth > 0 && depth >= params_.max_depth) return best;
    if (sums.count < 2 * params_.min_data_in_leaf || sums.hessians < 2 * params_.min_sum_hessian_in_leaf) return best;
    const double* hist = histogram.data<double>();
    for (int64_t f = 0; f < num_features_; ++f) {
        if (!feature_used_[static_cast<size_t>(f)]) continue;
        find_best_split(hist + cpu::kHistogramStats * offsets_host_[static_cast<size_t>(f)],
                        feature_bins_[static_cast<size_t>(f)], static_cast<int32_t>(f), sums, params_, best);
    }
    return best;
}

int64_t TreeLearner::partition(int32_t leaf, const SplitCandidate& split) {
    const Range range = leaf_ranges_[static_cast<size_t>(leaf)];
    const std::vector<uint8_t> mask = left_mask(split, feature_bins_[static_cast<size_t>(split.feature)]);
    const uint8_t* goes_left = mask.data();
    const uint8_t* column = bins_.data<uint8_t>() + split.feature;
    const int64_t stride = num_features_;
    int32_t* rows = partition_.data<int32_t>() + range.begin;
    int32_t* out = scratch_.data();
    const int64_t n = range.count;
    const int64_t blocks = std::clamp<int64_t>((n + kPartitionBlockRows - 1) / kPartitionBlockRows, 1, kPartitionMaxBlocks);
    std::vector<int64_t> left_before(static_cast<size_t>(blocks) + 1, 0);
    int64_t total_left = 0;
    // Count, then scatter each block's rows to their final places in scratch,
    // then copy back: a stable partition, the same for any thread count.
#pragma omp parallel if (blocks > 1)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; ++b) {
            int64_t count = 0;
            for (int64_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i)
                count += goes_left[column[static_cast<int64_t>(rows[i]) * stride]];
            left_before[static_cast<size_t>(b) + 1] = count;
        }
#pragma omp single
        {
            for (int64_t b = 0; b < blocks; ++b) left_before[static_cast<size_t>(b) + 1] += left_before[static_cast<size_t>(b)];
            total_left = left_before[static_cast<size_t>(blocks)];
        }
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; ++b) {
            const int64_t begin = n * b / blocks;
            int64_t left = left_before[static_cast<size_t>(b)];
            int64_t right = total_left + (begin - left);
            for (int64_t i = begin; i < n * (b + 1) / blocks; ++i) {
                const int32_t row = rows[i];
                if (goes_left[column[static_cast<int64_t>(row) * stride]]) out[left++] = row;
                else out[right++] = row;
            }
        }
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; ++b) {
            const int64_t begin = n * b / blocks, end = n * (b + 1) / blocks;
            std::memcpy(rows + begin, out + begin, static_cast<size_t>(end - begin) * sizeof(int32_t));
        }
    }
    return total_left;
}

GbdtTree TreeLearner::grow(const Tensor& gradients, const Tensor& hessians, const std::vector<int32_t>& rows,
                           const std::vector<uint8_t>& feature_used) {
    gradients_ = &gradients;
    hessians_ = &hessians;
    feature_used_ = feature_used;
    all_rows_ = rows.empty();
    int32_t* part = partition_.data<int32_t>();
    int64_t root_count = rows_;
    if (all_rows_) {
        for (int64_t r = 0; r < rows_; ++r) part[r] = static_cast<int32_t>(r);
    } else {
        std::memcpy(part, rows.data(), rows.size() * sizeof(int32_t));
        root_count = static_cast<int64_t>(rows.size());
    }
    leaf_ranges_[0] = {0, root_count};

    const int32_t max_leaves = static_cast<int32_t>(params_.num_leaves);
    std::vector<SplitCandidate> best(static_cast<size_t>(max_leaves));
    std::vector<LeafSums> sums(static_cast<size_t>(max_leaves));
    std::vector<int32_t> depth(static_cast<size_t>(max_leaves), 0);
    // Where each leaf hangs: the parent node and side (-1: the leaf is the root).
    std::vector<int32_t> parent_node(static_cast<size_t>(max_leaves), -1);
    std::vector<uint8_t> parent_left(static_cast<size_t>(max_leaves), 0);

    build_histogram(0, histograms_[0]);
    sums[0] = histogram_totals(histograms_[0].data<double>(), feature_bins_.empty() ? 0 : feature_bins_[0].num_bins());
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
        add_node(tree, split, feature_bins_[static_cast<size_t>(split.feature)]);
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
        const int64_t left_count = partition(chosen, split);
        leaf_ranges_[static_cast<size_t>(left)] = {range.begin, left_count};
        leaf_ranges_[static_cast<size_t>(right)] = {range.begin + left_count, range.count - left_count};
        all_rows_ = false;  // from here on every leaf is a strict subset
        sums[static_cast<size_t>(left)] = split.left;
        sums[static_cast<size_t>(right)] = split.right;
        const int32_t child_depth = depth[static_cast<size_t>(chosen)] + 1;
        depth[static_cast<size_t>(left)] = depth[static_cast<size_t>(right)] = child_depth;

        // The parent's histogram sits in slot `left`; build the smaller child
        // into slot `right`, derive the larger from the parent, and swap the
        // slots when the smaller child is the left one.
        const bool left_smaller = left_count < range.count - left_count;
        Tensor& parent_hist = histograms_[static_cast<size_t>(left)];
        Tensor& fresh_hist = histograms_[static_cast<size_t>(right)];
        build_histogram(left_smaller ? left : right, fresh_hist);
        ops::histogram_subtract(ctx_, parent_hist, fresh_hist, parent_hist);
        if (left_smaller) std::swap(parent_hist, fresh_hist);

        best[static_cast<size_t>(left)] = best_split(histograms_[static_cast<size_t>(left)], split.left, child_depth);
        best[static_cast<size_t>(right)] = best_split(histograms_[static_cast<size_t>(right)], split.right, child_depth);
    }

    tree.leaf_value.resize(static_cast<size_t>(leaves));
    for (int32_t l = 0; l < leaves; ++l) {
        const LeafSums& s = sums[static_cast<size_t>(l)];
        tree.leaf_value[static_cast<size_t>(l)] =
            params_.learning_rate * leaf_output(s.gradients, s.hessians, params_.lambda_l2);
    }
    return tree;
}

}  // namespace skipper::gbdt
