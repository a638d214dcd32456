// The GBDT's per-row ops besides histograms (engine/histogram_ops.h):
// gradients, their quantization, exact leaf sums, and scoring. One signature
// for every device; the dispatch happens in engine/gbdt_ops.cpp.
#pragma once

#include <cstdint>
#include <span>

#include "engine/context.h"
#include "engine/tensor.h"
// counter_hash and counter_uniform: the per-row draws (bagging, stochastic
// rounding) of the learner and of these ops come from the same function.
#include "kernels/cpu/random.h"

namespace skipper::ops {

// The largest |gradient| and hessian over the rows. A process holding a share
// of the rows reduces these with max across processes before quant_scale.
struct GradientExtent {
    double max_abs_gradient = 0.0;
    double max_hessian = 0.0;
};

// Binary log loss: gradients, hessians (f32 [rows]) from labels (f32, 0/1)
// and raw scores (f64); returns their extent, found in the same pass.
GradientExtent logloss_gradients(Context& ctx, const Tensor& labels, const Tensor& scores, Tensor& gradients,
                                 Tensor& hessians);

// The extent of gradients and hessians computed elsewhere.
GradientExtent gradient_extent(Context& ctx, const Tensor& gradients, const Tensor& hessians);

// One quantization unit per statistic (LightGBM 4): gradients map to
// [-quant_bins / 2, quant_bins / 2], hessians to [0, quant_bins]. A pure
// function of the global extent, so every process derives the same scale.
struct QuantScale {
    double gradient = 0.0;
    double hessian = 0.0;
};
QuantScale quant_scale(const GradientExtent& global, int64_t quant_bins);

// quantized (i32 [rows]) = g_q * 2^16 + h_q, g_q and h_q rounded from
// g / scale.gradient and h / scale.hessian: stochastically (floor(x + u) with u
// from counter_hash(draw_seed, key of the row)) or to nearest. row_keys: one
// per row, or empty for the row index.
void quantize_gradients(Context& ctx, const Tensor& gradients, const Tensor& hessians,
                        std::span<const uint64_t> row_keys, uint64_t draw_seed, bool stochastic,
                        const QuantScale& scale, int64_t quant_bins, Tensor& quantized);

// Sums of gradients and hessians over leaf_rows (i32 [n]), the same for any
// thread count (blocks of block_rows rows, added in order).
struct LeafStatSums {
    double gradients = 0.0;
    double hessians = 0.0;
};
LeafStatSums leaf_sums(Context& ctx, const Tensor& gradients, const Tensor& hessians, const Tensor& leaf_rows,
                       int64_t block_rows);

// A tree in bin space: split_feature, left_child, right_child i32 [nodes]
// (a child c < 0 names leaf ~c), goes_left u8 [nodes, 256] (which bins of the
// node's feature go left), leaf_value f64 [nodes + 1].
struct BinnedTree {
    Tensor split_feature, goes_left, left_child, right_child, leaf_value;
};

// scores (f64 [rows]) += the tree's value for each row of bins (u8 [rows, F])
// whose skip entry (u8 [rows], or undefined for none) is 0.
void tree_add_scores(Context& ctx, const BinnedTree& tree, const Tensor& bins, const Tensor& skip, Tensor& scores);

// scores[partition[i]] += leaf_value[l] for i in leaf l's range
// [leaf_begin[l], leaf_begin[l] + leaf_count[l]) of the partition (i32 [n],
// distinct rows): every leaf's rows straight from the tree learner's partition.
// leaf_begin, leaf_count: one per leaf; leaf_value: f64 [leaves].
void leaf_add_scores(Context& ctx, const Tensor& partition, std::span<const int64_t> leaf_begin,
                     std::span<const int64_t> leaf_count, const Tensor& leaf_value, Tensor& scores);

}  // namespace skipper::ops
