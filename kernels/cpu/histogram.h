// Gradient histograms for the GBDT (LightGBM's and XGBoost's `hist` method),
// in float or in exact integer sums of quantized gradients.
//
// Layout (LightGBM's force_row_wise and force_col_wise; the learner keeps one
// or both, see choose_histogram_layout in engine/histogram_ops.h):
// - row-wise bins: u8 [rows, num_features]: one row's bins sit together, so a
//   leaf's rows, visited in index order, each cost one cache line at most;
// - column-wise bins: u8 [num_features, rows]: a partition reads only the split
//   feature's column (one byte a row, where row-wise reads the row's line), and a
//   dense leaf's histogram streams each column; a sparse leaf pays a line per
//   row and feature instead of per row;
//   feature f owns histogram slots feature_offsets[f] .. feature_offsets[f + 1] - 1
//   and its bin b is slot feature_offsets[f] + b;
// - float histograms: f64 [total_bins, 4] holding (sum of gradients, sum of
//   hessians, row count, 0) per bin: the padding makes a bin one 32-byte
//   vector, so adding a row to a bin is one load, one add and one store;
// - quantized histograms: one 64-bit integer per bin, G * 2^32 + H, with G the
//   sum of the quantized gradients (signed) and H that of the quantized
//   hessians (0 <= H < 2^32). A row's quantized pair arrives packed in 32 bits
//   as g * 2^16 + h (0 <= h < 2^16). Each block of rows accumulates in the
//   narrowest packed pair its row count keeps from overflowing (LightGBM's
//   8/16/32-bit quantized histograms): 16 bits (two 8-bit fields), 32 bits (two
//   16-bit fields) or 64 bits, a quarter, half or all of the cache footprint;
//   the blocks are widened to 64 bits as they are merged. Integer sums do not
//   depend on order: the result is the same for any thread count and block size.
//
// Float determinism: rows are cut into blocks whose bounds depend only on the
// row count and the block size; each block is summed in row order into its own
// histogram and the block histograms are added in block order. The result is
// bit-identical for any thread count.
#pragma once

#include <cstdint>

namespace skipper::cpu {

constexpr int64_t kHistogramStats = 4;  // float slots per bin: gradient, hessian, count, padding
// The most blocks per histogram: quantized blocks are small (8 bytes a bin)
// and more of them keep each within 16-bit sums; float blocks (32 bytes a
// bin) are fewer, so their scratch and merge stay small.
constexpr int64_t kHistogramMaxBlocks = 64;
constexpr int64_t kFloatHistogramMaxBlocks = 16;
constexpr int64_t kDefaultHistogramBlockRows = 8192;
// Quantized per-row pairs: |g| <= 2^13 and h <= 2^14 keep both in their 16-bit fields.
constexpr int64_t kMaxQuantBins = 16384;

// How one block of rows accumulates.
enum class HistogramSums { f64, packed16, packed32, packed64 };

// The largest |quantized gradient| and quantized hessian of one row with
// `quant_bins` quantization bins (see quantize_gradients in kernels/cpu/gbdt.h).
inline int64_t quantized_gradient_limit(int64_t quant_bins) { return (quant_bins + 1) / 2; }
inline int64_t quantized_hessian_limit(int64_t quant_bins) { return quant_bins; }

// Whether 64-bit sums (32-bit fields) hold any `rows` rows; training checks it
// for the whole set, so every leaf's sums fit.
bool quantized_sums_fit_64(int64_t rows, int64_t quant_bins);
// The narrowest sums that cannot overflow for `rows` rows: packed16 while both
// 8-bit fields are safe, packed32 while both 16-bit fields are, packed64 otherwise.
HistogramSums quantized_block_sums(int64_t rows, int64_t quant_bins);

// 64-bit quantized sums to their fields and back.
inline int64_t quantized_gradient_sum(uint64_t packed) { return static_cast<int64_t>(packed) >> 32; }
inline int64_t quantized_hessian_sum(uint64_t packed) { return static_cast<int64_t>(packed & 0xffffffffull); }
inline uint64_t pack_quantized_sums(int64_t gradient, int64_t hessian) {
    return static_cast<uint64_t>(gradient * (int64_t{1} << 32) + hessian);
}

// What the kernels read for each row.
struct HistogramSource {
    // Row r's bin of feature f: bins[r * num_features + f] (row-wise) and
    // columns[f * rows + r] (column-wise); either may be null, not both.
    // Histograms read the rows when there are rows, partitions the columns
    // when there are columns. Next to bins, columns may hold other features
    // (the split features, when bins hold their bundles: bundle_bins).
    const uint8_t* bins = nullptr;
    const uint8_t* columns = nullptr;
    int64_t num_features = 0;
    int64_t rows = 0;
    const int32_t* feature_offsets = nullptr;
    int64_t total_bins = 0;
    // Float mode: f32 per row. Quantized mode (quant_bins > 0): the packed
    // 32-bit pair per row.
    const float* gradients = nullptr;
    const float* hessians = nullptr;
    const int32_t* quantized = nullptr;
    int64_t quant_bins = 0;
    int64_t block_rows = kDefaultHistogramBlockRows;
};

// Blocks for `rows` rows: ceil(rows / block_rows), at most max_blocks.
int64_t histogram_blocks(int64_t rows, int64_t block_rows, int64_t max_blocks);
// Bytes of scratch the kernels below need for `rows` rows.
int64_t histogram_scratch_bytes(const HistogramSource& source, int64_t rows);

// histogram (overwritten: f64 [total_bins, 4] or u64 [total_bins]) = sums over
// rows i of row r = row_indices[i] (or r = i when row_indices is null).
void histogram_build(const HistogramSource& source, const int32_t* row_indices, int64_t rows, void* histogram,
                     void* scratch);

// Stable partition of rows[0, n): rows whose bin of `split_feature` has
// goes_left[bin] != 0 first. In the same pass over the rows, builds the
// histogram of the left side (build_left) or the right side into `histogram`.
// row_scratch: n ints. Returns the left count. Bit-identical for any thread
// count.
int64_t partition_histogram(const HistogramSource& source, int32_t split_feature, const uint8_t* goes_left,
                            bool build_left, int32_t* rows, int64_t n, int32_t* row_scratch, void* histogram,
                            void* scratch);

// out (u8 [features, rows]) = bins (u8 [rows, features]) transposed: the column-wise layout.
void bins_column_major(const uint8_t* bins, int64_t rows, int64_t features, uint8_t* out);

// out (u8 [rows, bundles]): out[r, bundle[f]] = sum over the features f of
// the bundle of bins[r, f] * stride[f] (engine/histogram_ops.h, FeatureBundles).
void bundle_bins(const uint8_t* bins, int64_t rows, int64_t features, const int32_t* bundle, const int32_t* stride,
                 int64_t bundles, uint8_t* out);

// How many parallel regions the kernels above have opened in this process
// (tests check that a one-block leaf opens none).
int64_t histogram_parallel_regions();

// The partition alone, for a split whose children will not be split again
// (their histograms would go unused). Same contract as partition_histogram.
int64_t partition_rows(const HistogramSource& source, int32_t split_feature, const uint8_t* goes_left, int32_t* rows,
                       int64_t n, int32_t* row_scratch);

// out = parent - child, slot by slot (out may alias parent).
void histogram_subtract(const double* parent, const double* child, double* out, int64_t total_bins);
void histogram_subtract(const uint64_t* parent, const uint64_t* child, uint64_t* out, int64_t total_bins);

}  // namespace skipper::cpu
