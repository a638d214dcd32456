// Grows one tree leaf by leaf (LightGBM's serial tree learner): each leaf
// owns a contiguous range of a row-index array, split in place by a stable
// partition; the smaller child's histogram is built and the larger one's is
// the parent's minus it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "trainer/gbdt/binning.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/gbdt/split.h"

namespace skipper::gbdt {

class TreeLearner {
public:
    // bins: u8 [rows, F] from bin_rows; buffers for num_leaves histograms and
    // the row partition are allocated here, once per training run.
    TreeLearner(Context& ctx, const Tensor& bins, const std::vector<FeatureBins>& feature_bins, const GbdtParams& params);

    // Grows a tree over `rows` (sorted row ids; empty: every row) from the
    // gradients and hessians (f32 [rows], indexed by row id), using only the
    // features whose `feature_used` entry is nonzero. Leaf values are scaled
    // by the learning rate. Afterwards leaf_rows(l) lists the rows of leaf l.
    GbdtTree grow(const Tensor& gradients, const Tensor& hessians, const std::vector<int32_t>& rows,
                  const std::vector<uint8_t>& feature_used);

    struct Range {
        int64_t begin = 0, count = 0;
    };
    const int32_t* leaf_rows(int32_t leaf) const {
        return partition_.data<int32_t>() + leaf_ranges_[static_cast<size_t>(leaf)].begin;
    }
    int64_t leaf_count(int32_t leaf) const { return leaf_ranges_[static_cast<size_t>(leaf)].count; }

private:
    void build_histogram(int32_t leaf, Tensor& histogram);
    SplitCandidate best_split(const Tensor& histogram, const LeafSums& sums, int32_t depth) const;
    // Stable partition of the leaf's range: rows going left first. Returns the left count.
    int64_t partition(int32_t leaf, const SplitCandidate& split);

    Context& ctx_;
    const Tensor& bins_;
    const std::vector<FeatureBins>& feature_bins_;
    const GbdtParams& params_;
    Tensor offsets_;
    std::vector<int32_t> offsets_host_;
    int64_t rows_ = 0;
    int64_t num_features_ = 0;
    std::vector<Tensor> histograms_;  // one per leaf id
    Tensor partition_;               // i32 [rows]: row ids, grouped by leaf
    std::vector<int32_t> scratch_;   // the partition's output before it is copied back
    std::vector<Range> leaf_ranges_;
    const Tensor* gradients_ = nullptr;
    const Tensor* hessians_ = nullptr;
    bool all_rows_ = true;
    std::vector<uint8_t> feature_used_;
};

}  // namespace skipper::gbdt
