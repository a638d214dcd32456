// Quantile binning: every feature value becomes one byte. Numeric features get
// at most max_bin value bins cut at quantiles of a row sample (each distinct
// value its own bin when there are few); categorical features get one bin per
// category, the most frequent first. After the value bins comes one bin for
// missing values (NaN, and categories never seen in training).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "trainer/data/dataset.h"

namespace skipper::gbdt {

struct FeatureBins {
    bool categorical = false;
    // Numeric: a value v falls in the first bin b with v <= upper_bounds[b];
    // the last bound is +infinity.
    std::vector<double> upper_bounds;
    // Categorical: the category code of each value bin, and the value bin of
    // each code (-1: not seen in training, so the missing bin).
    std::vector<int32_t> bin_category;
    std::vector<int32_t> category_bin;

    int32_t value_bins() const {
        return static_cast<int32_t>(categorical ? bin_category.size() : upper_bounds.size());
    }
    int32_t missing_bin() const { return value_bins(); }
    int32_t num_bins() const { return value_bins() + 1; }
    uint8_t bin_of(float value) const;

    bool operator==(const FeatureBins&) const = default;
};

// Fits the bins of every feature of `data` on up to `sample_count` rows drawn
// with `seed`. A categorical column holding codes beyond kMaxCategoryCode is
// an Error naming it.
constexpr int64_t kMaxCategoryCode = 1 << 20;
std::vector<FeatureBins> fit_feature_bins(const data::TabularDataset& data, int64_t max_bin, int64_t sample_count,
                                          uint64_t seed);

// features: f32 [rows, F] -> u8 [rows, F] (OpenMP over rows).
Tensor bin_rows(const Tensor& features, const std::vector<FeatureBins>& bins);

// i32 [F + 1]: feature f's first histogram slot; the last entry is the total.
Tensor histogram_offsets(const std::vector<FeatureBins>& bins);

}  // namespace skipper::gbdt
