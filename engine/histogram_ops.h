// The GBDT's histogram ops (layout in kernels/cpu/histogram.h). One signature
// for every device; the dispatch on the tensors' device happens in
// engine/histogram_ops.cpp. The trainer reaches the kernels only through here
// and engine/gbdt_ops.h.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/cpu/histogram.h"

namespace skipper::ops {

constexpr int64_t kHistogramFloatStats = 4;  // f64 per bin: gradient, hessian, count, padding
constexpr int64_t kDefaultHistogramBlockRows = 8192;
constexpr int64_t kMaxQuantBins = 16384;

// What a histogram sums over its rows.
// - bins: u8 [rows, features] (row-wise) and/or columns: u8 [features, rows]
//   (column-wise, ops::bins_column_major), at least one of the two (see
//   choose_histogram_layout): histograms read the rows when there are rows,
//   partitions the columns when there are columns. Next to bins, columns
//   may hold other features than bins (bins: bundles of them, FeatureBundles);
//   split features index the columns. feature_offsets: i32 [features + 1]
//   of the histogram's features (those of bins when there are bins)
//   (feature f owns histogram slots offsets[f] .. offsets[f + 1] - 1).
// - Float mode (quant_bins == 0): gradients and hessians, f32 [rows].
// - Quantized mode (quant_bins > 0): quantized, i32 [rows], each row's
//   quantized pair packed as g * 2^16 + h (ops::quantize_gradients).
// - block_rows: rows per block of the deterministic float summation.
struct HistogramRows {
    Tensor bins;
    Tensor columns;
    Tensor feature_offsets;
    Tensor gradients, hessians;
    Tensor quantized;
    int64_t quant_bins = 0;
    int64_t block_rows = kDefaultHistogramBlockRows;
};

// An uninitialised histogram for `rows`: f64 [total_bins, 4] holding
// (gradients, hessians, count, 0) per bin in float mode; i32 [total_bins, 2]
// in quantized mode, each bin one little-endian 64-bit integer G * 2^32 + H
// (G the signed sum of quantized gradients, 0 <= H < 2^32 that of hessians).
Tensor histogram_empty(const HistogramRows& rows);
// Scratch (u8) that histogram_build and partition_histogram need for up to `rows` rows.
Tensor histogram_scratch(const HistogramRows& rows, int64_t max_rows);

// The fields of one bin of a quantized histogram (G, H above).
using cpu::quantized_gradient_sum;
using cpu::quantized_hessian_sum;

// The narrowest quantized sums safe for `rows` rows: 16 (two 8-bit fields),
// 32 (two 16-bit fields) or 64 (two 32-bit fields); 0 when even 64 bits can overflow.
int quantized_sum_bits(int64_t rows, int64_t quant_bins);

// histogram = per-bin sums over row_indices (i32 [n], a leaf's rows) or, with
// an undefined row_indices, every row. Bit-identical for any thread count; in
// quantized mode for any block size too.
void histogram_build(Context& ctx, const HistogramRows& rows, const Tensor& row_indices, Tensor& histogram,
                     Tensor& scratch);

// Stable in-place partition of leaf_rows (i32 [n]): rows whose bin of
// split_feature has goes_left[bin] != 0 (u8 [256]) first. In the same pass,
// histogram = the sums of the left side (build_left) or of the right side.
// row_scratch: i32 [>= n]. Returns the left count.
int64_t partition_histogram(Context& ctx, const HistogramRows& rows, int32_t split_feature, const Tensor& goes_left,
                            bool build_left, Tensor& leaf_rows, Tensor& row_scratch, Tensor& histogram,
                            Tensor& scratch);

// The rows of `rows` (either layout).
int64_t histogram_row_count(const HistogramRows& rows);

// Which layout of the bins a learner keeps: HistogramRows::bins (row_wise),
// ::columns (col_wise) or both (hybrid: row-wise histograms, partitions from
// the split feature's column, as LightGBM keeps its feature groups next to
// its row-wise bins). The model does not depend on it: every bin receives its
// rows in row order.
enum class HistogramLayout { row_wise, col_wise, hybrid };
// LightGBM's force_col_wise / force_row_wise, else a choice by the cache
// lines each layout touches (see the definition).
HistogramLayout choose_histogram_layout(int64_t features, bool force_col_wise, bool force_row_wise);

// u8 [features, rows] from u8 [rows, features]: the column-wise layout.
Tensor bins_column_major(Context& ctx, const Tensor& bins);

// Features with few bins share one histogram column, a bundle: a row's code in
// its bundle is the sum over the bundle's features of bin * stride (a mixed-
// radix number), so one add counts the row for every feature of the bundle,
// and a feature's per-bin sums are sums of its bundle's cells. Exact for
// quantized (integer) sums; float sums would change order, so only quantized
// training bundles.
struct FeatureBundles {
    std::vector<int32_t> bundle;  // per feature: its bundle
    std::vector<int32_t> stride;  // per feature: the step of its bin in the code
    std::vector<int32_t> cells;   // per bundle: the product of its features' bin counts (<= 256)
};
// Greedy first fit in feature order: a feature joins the first bundle whose
// cells times its bin count stay <= 256, else opens a new one.
FeatureBundles bundle_features(const std::vector<int32_t>& num_bins);
// u8 [rows, bundles] codes from bins (u8 [rows, features]).
Tensor bundle_bins(Context& ctx, const Tensor& bins, const FeatureBundles& bundles);

// How many parallel regions the histogram kernels have opened in this process.
int64_t histogram_parallel_regions();

// partition_histogram without the histogram: for a split whose children will
// not be split (at max_depth, or the tree's last leaf), as LightGBM skips
// their histograms.
int64_t partition_rows(Context& ctx, const HistogramRows& rows, int32_t split_feature, const Tensor& goes_left,
                       Tensor& leaf_rows, Tensor& row_scratch);

// out = parent - child (the subtraction trick: a leaf's larger child from its
// parent and its smaller child); exact in quantized mode. out may alias parent.
void histogram_subtract(Context& ctx, const Tensor& parent, const Tensor& child, Tensor& out);

}  // namespace skipper::ops
