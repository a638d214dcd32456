// Quantile binning: every feature value becomes one byte. Numeric features get
// at most max_bin value bins cut at quantiles of a row sample (each distinct
// value its own bin when there are few); categorical features get one bin per
// category, the most frequent first. After the value bins comes one bin for
// missing values (NaN, and categories never seen in training).
#pragma once

#include <cmath>
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

// Sorts floats without NaN ascending, -0.0 before 0.0 (they compare equal,
// so they cut the same bounds): the sort of every numeric feature's sample
// values, about 4x faster than std::sort on the bin sample's 200k values.
void sort_floats(std::vector<float>& values);

// FeatureBins::bin_of for every feature of a row, faster, bin for bin the
// same: each numeric feature's bounds as floats padded with +infinity to a
// power of two, so the search is a fixed number of halvings without branches
// over one small array (the binary search over the FeatureBins' doubles cost
// 40 ns a value, a fifth of the whole streamed ingest), and every feature's
// bins of the small integers 0..kSmallValues-1 in a table (positions, lengths,
// flags and codes take one load instead of a search). Every feature's bounds
// take the same stride (the longest's power of two; the padding is +infinity,
// which no value exceeds, so a search over more of it finds the same bin):
// bin_features cuts each into the same 16 blocks.
class RowBinner {
public:
    static constexpr int32_t kSmallValues = 64;
    explicit RowBinner(const std::vector<FeatureBins>& bins);
    int64_t num_features() const { return static_cast<int64_t>(bins_.size()); }
    // bins[feature].bin_of(v).
    uint8_t bin(size_t feature, float v) const {
        const FeatureBins& bins = bins_[feature];
        if (bins.categorical || std::isnan(v)) return bins.bin_of(v);
        const float* base = bound_ + feature * stride_;
        size_t pos = 0;
        for (size_t step = size_[feature] / 2; step > 0; step /= 2) pos += step * static_cast<size_t>(base[pos + step - 1] < v);
        return static_cast<uint8_t>(pos + (base[pos] < v ? 1 : 0));
    }
    // bin(feature, x[i * stride]) into out[i * out_stride] for i < count: the
    // values go through the search side by side, so that their loads overlap
    // (one search is a chain of dependent loads and compares).
    void bin_column(size_t feature, const float* x, int64_t stride, int64_t count, uint8_t* out, int64_t out_stride) const;
    // bin(first + j, v[j]) into out[j] for j < count: a row's values, each
    // found by two compares of 16 bounds at once where AVX-512 is (the
    // stride's 16 block ends, then the block past those below the value),
    // by bin() elsewhere.
    void bin_features(size_t first, int64_t count, const float* v, uint8_t* out) const;
    // bin(feature, static_cast<float>(v)) for an integer value.
    uint8_t bin_integer(size_t feature, int32_t v) const {
        if (v >= 0 && v < kSmallValues) return small_[feature * kSmallValues + static_cast<size_t>(v)];
        return bin(feature, static_cast<float>(v));
    }

private:
    std::vector<FeatureBins> bins_;
    size_t stride_ = 1;          // the longest numeric feature's padded bound count
    // f32 [features, stride_]: each numeric feature's float bounds, padded with
    // +infinity; a Tensor for its 64-byte start, so that bin_features' blocks
    // of 16 do not straddle cache lines. bound_ is its data.
    Tensor bounds_;
    const float* bound_ = nullptr;
    std::vector<size_t> size_;   // each numeric feature's own padded bound count (a power of two <= stride_)
    uint32_t block_ = 1;             // bin_features' block: stride_ / 16, or stride_ when that is 16 or less
    uint16_t block_mask_ = 1;        // the block's lanes of 16
    Tensor block_ends_;  // f32 [features, 16]: each block's last bound (unused when one block is the stride)
    const float* block_end_ = nullptr;
    std::vector<uint8_t> small_;  // [features, kSmallValues]
};

// features: f32 [rows, F] -> u8 [rows, F] (OpenMP over rows); `bins` may
// hold more features than F (the first F bin the columns).
Tensor bin_rows(const Tensor& features, const std::vector<FeatureBins>& bins);
Tensor bin_rows(const Tensor& features, const RowBinner& binner);

// i32 [F + 1]: feature f's first histogram slot; the last entry is the total.
Tensor histogram_offsets(const std::vector<FeatureBins>& bins);

}  // namespace skipper::gbdt
