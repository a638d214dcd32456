#include "trainer/gbdt/split.h"

#include <algorithm>

namespace skipper::gbdt {

namespace {

LeafSums slot(const LeafSums* feature_bins, int32_t bin) { return feature_bins[bin]; }

void add_to(LeafSums& into, const LeafSums& x) {
    into.gradients += x.gradients;
    into.hessians += x.hessians;
    into.count += x.count;
}

LeafSums minus(const LeafSums& a, const LeafSums& b) {
    return {a.gradients - b.gradients, a.hessians - b.hessians, a.count - b.count};
}

bool side_ok(const LeafSums& side, const GbdtParams& params) {
    // At least one row even when min_data_in_leaf is 0: an empty side has no output.
    return side.count >= std::max<int64_t>(1, params.min_data_in_leaf) &&
           side.hessians >= params.min_sum_hessian_in_leaf;
}

// The gain threshold a split must pass: the parent's own gain plus min_gain_to_split.
double gain_floor(const LeafSums& parent, const GbdtParams& params) {
    return leaf_gain(parent.gradients, parent.hessians, params.lambda_l2) + params.min_gain_to_split;
}

void find_numeric(const LeafSums* hist, const FeatureBins& bins, int32_t feature, const LeafSums& parent,
                  const GbdtParams& params, SplitCandidate& best) {
    const int32_t values = bins.value_bins();
    const LeafSums missing = slot(hist, bins.missing_bin());
    const double floor = gain_floor(parent, params);
    const double lambda = params.lambda_l2;
    // Missing values right; with missing values present the last threshold
    // (every value left, only missing right) is a split too.
    // Then, when there are missing values, the same thresholds with them left.
    for (int direction = 0; direction < (missing.count > 0 ? 2 : 1); ++direction) {
        const bool missing_left = direction == 1;
        LeafSums left = missing_left ? missing : LeafSums{};
        const int32_t last = missing.count > 0 && !missing_left ? values - 1 : values - 2;
        for (int32_t t = 0; t <= last; ++t) {
            add_to(left, slot(hist, t));
            if (!side_ok(left, params)) continue;
            const LeafSums right = minus(parent, left);
            if (!side_ok(right, params)) break;  // the right side only shrinks from here
            const double gain = leaf_gain(left.gradients, left.hessians, lambda) +
                                leaf_gain(right.gradients, right.hessians, lambda) - floor;
            if (gain > 0.0 && gain > best.gain) {
                best.feature = feature;
                best.gain = gain;
                best.categorical = false;
                best.threshold_bin = t;
                best.default_left = missing_left;
                best.left_bins.clear();
                best.left = left;
                best.right = right;
            }
        }
    }
}

void find_categorical(const LeafSums* hist, const FeatureBins& bins, int32_t feature, const LeafSums& parent,
                      const GbdtParams& params, SplitCandidate& best) {
    const int32_t values = bins.value_bins();
    const double floor = gain_floor(parent, params);
    auto take = [&](double gain, const LeafSums& left, const LeafSums& right, std::vector<int32_t> left_bins) {
        if (!(gain > 0.0 && gain > best.gain)) return;
        best.feature = feature;
        best.gain = gain;
        best.categorical = true;
        best.threshold_bin = 0;
        best.default_left = false;
        best.left_bins = std::move(left_bins);
        best.left = left;
        best.right = right;
    };
    if (values <= params.max_cat_to_onehot) {
        // One category against the rest.
        for (int32_t b = 0; b < values; ++b) {
            const LeafSums left = slot(hist, b);
            const LeafSums right = minus(parent, left);
            if (!side_ok(left, params) || !side_ok(right, params)) continue;
            const double gain = leaf_gain(left.gradients, left.hessians, params.lambda_l2) +
                                leaf_gain(right.gradients, right.hessians, params.lambda_l2) - floor;
            take(gain, left, right, {b});
        }
        return;
    }
    // Many against many (LightGBM): order the well-populated categories by
    // smoothed mean gradient, then cut that order from either end, at most
    // max_cat_threshold categories on the left.
    std::vector<int32_t> order;
    for (int32_t b = 0; b < values; ++b)
        if (static_cast<double>(slot(hist, b).count) >= params.cat_smooth) order.push_back(b);
    auto ratio = [&](int32_t b) {
        const LeafSums s = slot(hist, b);
        return s.gradients / (s.hessians + params.cat_smooth);
    };
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ratio(a) < ratio(b); });
    const int64_t used = static_cast<int64_t>(order.size());
    const int64_t max_left = std::min<int64_t>(params.max_cat_threshold, (used + 1) / 2);
    const double lambda = params.lambda_l2 + params.cat_l2;
    for (int direction = 0; direction < 2; ++direction) {
        LeafSums left;
        int64_t group = 0;
        for (int64_t i = 0; i < used && i < max_left; ++i) {
            const int32_t b = order[static_cast<size_t>(direction == 0 ? i : used - 1 - i)];
            const LeafSums s = slot(hist, b);
            add_to(left, s);
            group += s.count;
            if (!side_ok(left, params)) continue;
            if (group < params.min_data_per_group) continue;
            group = 0;
            const LeafSums right = minus(parent, left);
            if (!side_ok(right, params) || right.count < params.min_data_per_group) break;
            const double gain =
                leaf_gain(left.gradients, left.hessians, lambda) + leaf_gain(right.gradients, right.hessians, lambda) - floor;
            if (gain > 0.0 && gain > best.gain) {
                std::vector<int32_t> left_bins;
                for (int64_t j = 0; j <= i; ++j)
                    left_bins.push_back(order[static_cast<size_t>(direction == 0 ? j : used - 1 - j)]);
                std::sort(left_bins.begin(), left_bins.end());
                take(gain, left, right, std::move(left_bins));
            }
        }
    }
}

}  // namespace

LeafSums histogram_totals(const LeafSums* feature_histogram, int32_t num_bins) {
    LeafSums total;
    for (int32_t b = 0; b < num_bins; ++b) add_to(total, slot(feature_histogram, b));
    return total;
}

void find_best_split(const LeafSums* feature_histogram, const FeatureBins& bins, int32_t feature, const LeafSums& parent,
                     const GbdtParams& params, SplitCandidate& best) {
    if (bins.categorical) find_categorical(feature_histogram, bins, feature, parent, params, best);
    else find_numeric(feature_histogram, bins, feature, parent, params, best);
}

}  // namespace skipper::gbdt
