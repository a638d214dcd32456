// Split search over one leaf's histogram: for every feature, the threshold (or
// set of categories) that most reduces the regularised loss
//   gain = G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda) - G^2 / (H + lambda),
// subject to min_data_in_leaf and min_sum_hessian_in_leaf on both sides.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "trainer/gbdt/binning.h"
#include "trainer/gbdt/gbdt.h"

namespace skipper::gbdt {

struct LeafSums {
    double gradients = 0.0;
    double hessians = 0.0;
    int64_t count = 0;
};

struct SplitCandidate {
    int32_t feature = -1;  // -1: no admissible split
    double gain = -std::numeric_limits<double>::infinity();
    bool categorical = false;
    // Numeric: value bins <= threshold_bin go left; the missing bin goes left
    // when default_left.
    int32_t threshold_bin = 0;
    bool default_left = false;
    // Categorical: the value bins that go left (the missing bin never does).
    std::vector<int32_t> left_bins;
    LeafSums left, right;

    bool admissible() const { return feature >= 0; }
};

// G^2 / (H + lambda): the loss reduction a leaf's optimal output achieves.
inline double leaf_gain(double gradients, double hessians, double lambda) {
    return gradients * gradients / (hessians + lambda);
}
// The leaf's optimal output before shrinkage.
inline double leaf_output(double gradients, double hessians, double lambda) { return -gradients / (hessians + lambda); }

// Totals of one feature's bins (every feature's sum to the leaf's).
LeafSums histogram_totals(const LeafSums* feature_bins, int32_t num_bins);

// Updates `best` when feature `feature` (the sums of its bins, in bin order,
// at `feature_bins`) has a split with a strictly larger gain. Ties keep the
// earlier candidate, so the search order fixes the result.
void find_best_split(const LeafSums* feature_bins, const FeatureBins& bins, int32_t feature, const LeafSums& parent,
                     const GbdtParams& params, SplitCandidate& best);

}  // namespace skipper::gbdt
