// The log-loss pass's exponential (fast_exp.h) vectorises only without
// trapping math; nothing here reads the trap flags.
#pragma GCC optimize("no-trapping-math")

#include "kernels/cpu/gbdt.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/histogram.h"
#include "kernels/cpu/random.h"

namespace skipper::cpu {

void logloss_gradients(const float* labels, const double* scores, float* gradients, float* hessians, int64_t rows,
                       double* max_abs_gradient, double* max_hessian) {
    float g_max = 0.0f, h_max = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(max : g_max, h_max)
    for (int64_t r = 0; r < rows; ++r) {
        const auto score = static_cast<float>(scores[r]);
        const float e = exp_f32(-std::fabs(score));
        const float q = 1.0f / (1.0f + e);
        const float p = score >= 0.0f ? q : e * q;
        const float g = p - labels[r], h = e * q * q;
        gradients[r] = g;
        hessians[r] = h;
        g_max = std::max(g_max, std::fabs(g));
        h_max = std::max(h_max, h);
    }
    *max_abs_gradient = g_max;
    *max_hessian = h_max;
}

void gradient_extent(const float* gradients, const float* hessians, int64_t rows, double* max_abs_gradient,
                     double* max_hessian) {
    float g = 0.0f, h = 0.0f;
#pragma omp parallel for schedule(static) reduction(max : g, h)
    for (int64_t r = 0; r < rows; ++r) {
        g = std::max(g, std::fabs(gradients[r]));
        h = std::max(h, hessians[r]);
    }
    *max_abs_gradient = g;
    *max_hessian = h;
}

namespace {

// The loop of quantize_gradients, one version per kind of rounding and of row
// key: without the per-row conditions (a key load under a mask), GCC
// vectorizes it (AVX-512: the hash's 64-bit products, the floor, the clamp).
template <bool kStochastic, bool kKeys>
void quantize_rows(const float* gradients, const float* hessians, const uint64_t* row_keys, uint64_t draw_seed,
                   double inv_g, double inv_h, int32_t g_limit, int32_t h_limit, int64_t rows, int32_t* quantized) {
#pragma omp parallel for simd schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        double ug = 0.5, uh = 0.5;
        if constexpr (kStochastic) {
            // One hash per row gives both offsets (32 bits each).
            const uint64_t bits = counter_hash(draw_seed, kKeys ? row_keys[r] : static_cast<uint64_t>(r));
            ug = static_cast<double>(bits >> 32) * 0x1.0p-32;
            uh = static_cast<double>(bits & 0xffffffffu) * 0x1.0p-32;
        }
        const auto g = std::clamp(static_cast<int32_t>(std::floor(static_cast<double>(gradients[r]) * inv_g + ug)),
                                  -g_limit, g_limit);
        const auto h = std::clamp(static_cast<int32_t>(std::floor(static_cast<double>(hessians[r]) * inv_h + uh)), 0,
                                  h_limit);
        quantized[r] = g * 65536 + h;
    }
}

}  // namespace

void quantize_gradients(const float* gradients, const float* hessians, const uint64_t* row_keys, uint64_t draw_seed,
                        bool stochastic, double gradient_scale, double hessian_scale, int64_t quant_bins, int64_t rows,
                        int32_t* quantized) {
    const double inv_g = gradient_scale > 0.0 ? 1.0 / gradient_scale : 0.0;
    const double inv_h = hessian_scale > 0.0 ? 1.0 / hessian_scale : 0.0;
    // Rounding g / scale near the largest value can step one past it: clamp
    // to the limits the histogram overflow rules assume.
    const auto g_limit = static_cast<int32_t>(quantized_gradient_limit(quant_bins));
    const auto h_limit = static_cast<int32_t>(quantized_hessian_limit(quant_bins));
    const auto run = [&]<bool kStochastic, bool kKeys>() {
        quantize_rows<kStochastic, kKeys>(gradients, hessians, row_keys, draw_seed, inv_g, inv_h, g_limit, h_limit, rows,
                                          quantized);
    };
    if (!stochastic) run.template operator()<false, false>();
    else if (row_keys != nullptr) run.template operator()<true, true>();
    else run.template operator()<true, false>();
}

void leaf_sums(const float* gradients, const float* hessians, const int32_t* rows, int64_t n, int64_t block_rows,
               double* gradient_sum, double* hessian_sum) {
    const int64_t blocks = histogram_blocks(n, block_rows, kHistogramMaxBlocks);
    double g[kHistogramMaxBlocks] = {}, h[kHistogramMaxBlocks] = {};
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; ++b) {
        double gs = 0.0, hs = 0.0;
        for (int64_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i) {
            gs += gradients[rows[i]];
            hs += hessians[rows[i]];
        }
        g[b] = gs;
        h[b] = hs;
    }
    double gs = 0.0, hs = 0.0;
    for (int64_t b = 0; b < blocks; ++b) {
        gs += g[b];
        hs += h[b];
    }
    *gradient_sum = gs;
    *hessian_sum = hs;
}

void tree_add_scores(const BinnedTreeView& tree, const uint8_t* bins, int64_t num_features, int64_t rows,
                     const uint8_t* skip, double* scores) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        if (skip != nullptr && skip[r]) continue;
        const uint8_t* row = bins + r * num_features;
        int32_t node = tree.nodes > 0 ? 0 : -1;
        while (node >= 0) {
            const auto n = static_cast<int64_t>(node);
            node = tree.goes_left[n * 256 + row[tree.split_feature[n]]] ? tree.left_child[n] : tree.right_child[n];
        }
        scores[r] += tree.leaf_value[~node];
    }
}

void leaf_add_scores(const int32_t* rows, const int64_t* leaf_begin, const int64_t* leaf_count, const double* leaf_value,
                     int64_t leaves, double* scores, int64_t score_rows, uint8_t* leaf_of) {
    if (leaf_of != nullptr) {
        // Each row's leaf into a byte map (scattered writes into score_rows
        // bytes, which stay in cache), then one pass over the scores in row
        // order. Adding in partition order was a scattered read-modify-write
        // of 8-byte scores: at 10M rows nearly every one missed the cache.
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t l = 0; l < leaves; ++l) {
            const int32_t* leaf_rows = rows + leaf_begin[l];
            for (int64_t i = 0; i < leaf_count[l]; ++i) leaf_of[leaf_rows[i]] = static_cast<uint8_t>(l);
        }
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < score_rows; ++r) scores[r] += leaf_value[leaf_of[r]];
        return;
    }
    // Leaves hold disjoint rows, so they can go to threads in any order.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t l = 0; l < leaves; ++l) {
        const double value = leaf_value[l];
        const int32_t* leaf_rows = rows + leaf_begin[l];
        for (int64_t i = 0; i < leaf_count[l]; ++i) scores[leaf_rows[i]] += value;
    }
}

}  // namespace skipper::cpu
