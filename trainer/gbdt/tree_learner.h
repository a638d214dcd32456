// Grows one tree leaf by leaf (LightGBM's serial tree learner): each leaf
// owns a contiguous range of a row-index array; splitting a leaf partitions
// its range in place and, in the same pass, builds the histogram of the child
// expected to be smaller; the other child's is the parent's minus it.
//
// Float mode sums f32 gradients and hessians in f64. Quantized mode
// (use_quantized_grad) sums integer gradients and hessians exactly; a bin's
// row count is then estimated from its hessian share, as LightGBM does, and
// the split gains use the sums times the iteration's scale.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/context.h"
#include "engine/gbdt_ops.h"
#include "engine/histogram_ops.h"
#include "engine/tensor.h"
#include "trainer/gbdt/binning.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/gbdt/split.h"

namespace skipper::gbdt {

// One iteration's per-row statistics: gradients and hessians (f32 [rows]),
// and in quantized mode their quantized pairs (i32 [rows]) with the scale.
struct GradientStats {
    Tensor gradients, hessians;
    Tensor quantized;  // undefined in float mode
    ops::QuantScale scale;
};

// Adds the wall time of its scope to `into`.
class ScopeSeconds {
public:
    explicit ScopeSeconds(double& into) : into_(into), start_(std::chrono::steady_clock::now()) {}
    ~ScopeSeconds() { into_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
    ScopeSeconds(const ScopeSeconds&) = delete;
    ScopeSeconds& operator=(const ScopeSeconds&) = delete;

private:
    double& into_;
    std::chrono::steady_clock::time_point start_;
};

// Wall seconds spent in each phase of grow(), summed over calls.
struct GrowSeconds {
    double layout = 0.0;      // choosing the layout and transposing the bins (once a run)
    double histograms = 0.0;  // the root's histogram and the subtractions
    double partition = 0.0;   // partitions, each with its built child's histogram
    double splits = 0.0;      // split search over the histograms
};

class TreeLearner {
public:
    // bins: u8 [rows, F] from bin_rows; buffers for num_leaves histograms and
    // the row partition are allocated here, once per training run.
    TreeLearner(Context& ctx, const Tensor& bins, const std::vector<FeatureBins>& feature_bins, const GbdtParams& params);

    // Grows a tree over `rows` (sorted row ids; empty: every row, but in a
    // data-parallel job: none, the rank's rows always listed), using only
    // the features whose `feature_used` entry is nonzero. Leaf values are
    // scaled by the learning rate. Afterwards leaf_rows(l) lists the rows of
    // leaf l and binned_tree() holds the tree in bin space.
    GbdtTree grow(const GradientStats& stats, const std::vector<int32_t>& rows, const std::vector<uint8_t>& feature_used);

    struct Range {
        int64_t begin = 0, count = 0;
    };
    Tensor leaf_rows(int32_t leaf) const;
    // scores[row] += its leaf's value for every row of the last grown tree.
    void add_leaf_scores(Tensor& scores);
    // The last grown tree in bin space, for ops::tree_add_scores.
    const ops::BinnedTree& binned_tree() const { return binned_tree_; }
    const GrowSeconds& seconds() const { return seconds_; }
    ops::HistogramLayout layout() const { return layout_; }

private:
    // The leaf's per-bin sums of feature f as LeafSums (counts estimated in quantized mode).
    void feature_sums(const Tensor& histogram, const LeafSums& leaf, int64_t f, std::vector<LeafSums>& out) const;
    // The leaf's totals from its histogram (exact in quantized mode); count given.
    LeafSums histogram_leaf_sums(const Tensor& histogram, int64_t count) const;
    SplitCandidate best_split(const Tensor& histogram, const LeafSums& sums, int32_t depth);

    Context& ctx_;
    const Tensor& bins_;
    const std::vector<FeatureBins>& feature_bins_;
    const GbdtParams& params_;
    ops::HistogramRows histogram_rows_;
    ops::HistogramLayout layout_ = ops::HistogramLayout::row_wise;
    // Quantized, hybrid layout: features with few bins share histogram
    // columns (ops::FeatureBundles); histograms then hold bundle cells and
    // offsets_host_ the bundles' first slots.
    bool bundled_ = false;
    ops::FeatureBundles bundles_;
    std::vector<int32_t> offsets_host_;
    int64_t rows_ = 0;
    int64_t num_features_ = 0;
    bool quantized_ = false;
    ops::QuantScale scale_;
    std::vector<Tensor> histograms_;  // one per leaf id
    Tensor histogram_scratch_;
    Tensor partition_;    // i32 [rows]: row ids, grouped by leaf
    Tensor row_scratch_;  // i32 [rows]: the partition's output before it is copied back
    Tensor goes_left_;    // u8 [256]: the split being applied
    std::vector<Range> leaf_ranges_;
    std::vector<uint8_t> feature_used_;
    ops::BinnedTree binned_tree_;
    GrowSeconds seconds_;
};

}  // namespace skipper::gbdt
