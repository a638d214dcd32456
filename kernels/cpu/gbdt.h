// The GBDT's per-row loops besides histograms (kernels/cpu/histogram.h):
// binary log-loss gradients, their quantization, exact leaf sums, and scoring
// binned rows with a tree.
#pragma once

#include <cstdint>

namespace skipper::cpu {

// g = p - y, h = p (1 - p) with p = sigmoid(score), in float (the precision
// they are stored in) from e = exp(-|score|), so that h stays accurate where
// p rounds to 1. Also returns max |g| and max h (the extent quantization
// needs), found in the same pass.
void logloss_gradients(const float* labels, const double* scores, float* gradients, float* hessians, int64_t rows,
                       double* max_abs_gradient, double* max_hessian);

// max |g| and max h over the rows (exact: a maximum does not depend on order).
void gradient_extent(const float* gradients, const float* hessians, int64_t rows, double* max_abs_gradient,
                     double* max_hessian);

// quantized[r] = g_q * 2^16 + h_q with g_q = round(g / gradient_scale) and
// h_q = round(h / hessian_scale), clamped to the limits of quant_bins levels
// (kernels/cpu/histogram.h): stochastic rounding (floor(x + u), u in [0, 1)
// from the row's key) or to nearest. row_keys null: the key is r.
void quantize_gradients(const float* gradients, const float* hessians, const uint64_t* row_keys, uint64_t draw_seed,
                        bool stochastic, double gradient_scale, double hessian_scale, int64_t quant_bins, int64_t rows,
                        int32_t* quantized);

// Sums of g and h over rows[0, n), in blocks whose bounds depend only on n and
// block_rows, added in block order: the same for any thread count.
void leaf_sums(const float* gradients, const float* hessians, const int32_t* rows, int64_t n, int64_t block_rows,
               double* gradient_sum, double* hessian_sum);

// A tree in bin space: per internal node its feature, the 256-entry table of
// which bins go left, and its children (c < 0 names leaf ~c).
struct BinnedTreeView {
    int64_t nodes = 0;
    const int32_t* split_feature = nullptr;
    const uint8_t* goes_left = nullptr;  // [nodes, 256]
    const int32_t* left_child = nullptr;
    const int32_t* right_child = nullptr;
    const double* leaf_value = nullptr;
};

// scores[r] += the value of the leaf row r falls into, for every row whose
// skip[r] is 0 (skip null: every row).
void tree_add_scores(const BinnedTreeView& tree, const uint8_t* bins, int64_t num_features, int64_t rows,
                     const uint8_t* skip, double* scores);

// scores[rows[i]] += leaf_value[l] for every leaf l and i in
// [leaf_begin[l], leaf_begin[l] + leaf_count[l]): the rows of each leaf
// straight from the partition (distinct rows). With leaf_of (u8 [score_rows]
// scratch; at most 256 leaves whose rows are all score_rows rows), in row
// order; otherwise all leaves in one parallel loop.
void leaf_add_scores(const int32_t* rows, const int64_t* leaf_begin, const int64_t* leaf_count, const double* leaf_value,
                     int64_t leaves, double* scores, int64_t score_rows, uint8_t* leaf_of);

}  // namespace skipper::cpu
