// Gradient histograms for the GBDT (LightGBM's and XGBoost's `hist` method).
//
// Layout:
// - bins: u8, row-major [rows, num_features]: one row's bins sit together, so
//   a leaf's rows, visited in index order, each cost one cache line;
// - a histogram is f64 [total_bins, 4] holding (sum of gradients, sum of
//   hessians, row count, 0) per bin: the padding makes a bin one 32-byte
//   vector, so adding a row to a bin is one load, one add and one store;
//   feature f owns the slots
//   feature_offsets[f] .. feature_offsets[f + 1] - 1 and its bin b is slot
//   feature_offsets[f] + b.
//
// Determinism: the rows are cut into blocks whose bounds depend only on the
// row count; each block is summed in row order into its own histogram and the
// block histograms are added in block order. The result is bit-identical for
// any thread count.
#pragma once

#include <cstdint>

namespace skipper::cpu {

// Rows per block below which a block is not split further, and the most blocks.
constexpr int64_t kHistogramBlockRows = 16384;
constexpr int64_t kHistogramMaxBlocks = 16;
constexpr int64_t kHistogramStats = 4;  // gradient, hessian, count, padding

int64_t histogram_blocks(int64_t rows);
// Doubles of scratch that histogram_build needs for `rows` rows.
int64_t histogram_scratch_size(int64_t rows, int64_t total_bins);

// histogram (overwritten) = sums over rows i of (gradients[r], hessians[r], 1, 0)
// at each feature's bin of row r, with r = row_indices[i] (or r = i when
// row_indices is null).
void histogram_build(const uint8_t* bins, int64_t num_features, const int32_t* feature_offsets, int64_t total_bins,
                     const float* gradients, const float* hessians, const int32_t* row_indices, int64_t rows,
                     double* histogram, double* scratch);

// out = parent - child, slot by slot (out may alias parent).
void histogram_subtract(const double* parent, const double* child, double* out, int64_t total_bins);

}  // namespace skipper::cpu
