#include "kernels/cpu/histogram.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace skipper::cpu {

namespace {

// One histogram bin as a 4-wide vector (GCC/Clang vector extension: AVX on
// x86-64 with AVX, two SSE halves otherwise).
using BinSums = double __attribute__((vector_size(32)));
static_assert(sizeof(BinSums) == kHistogramStats * sizeof(double));

// Adds the rows [begin, end) into the histograms of the features, whose bin 0
// sits at feature_hist[f] (already zeroed).
template <bool kIndexed>
void accumulate_rows(const uint8_t* bins, int64_t num_features, BinSums* const* feature_hist, const float* gradients,
                     const float* hessians, const int32_t* row_indices, int64_t begin, int64_t end) {
    // Gathered rows are read ahead so the loads overlap the additions.
    constexpr int64_t kPrefetchDistance = 16;
    for (int64_t i = begin; i < end; ++i) {
        const int64_t row = kIndexed ? row_indices[i] : i;
        if constexpr (kIndexed) {
            if (i + kPrefetchDistance < end) {
                const int64_t ahead = row_indices[i + kPrefetchDistance];
                __builtin_prefetch(bins + ahead * num_features);
                __builtin_prefetch(gradients + ahead);
                __builtin_prefetch(hessians + ahead);
            }
        }
        const BinSums add = {static_cast<double>(gradients[row]), static_cast<double>(hessians[row]), 1.0, 0.0};
        const uint8_t* row_bins = bins + row * num_features;
        int64_t f = 0;
        for (; f + 4 <= num_features; f += 4) {
            feature_hist[f][row_bins[f]] += add;
            feature_hist[f + 1][row_bins[f + 1]] += add;
            feature_hist[f + 2][row_bins[f + 2]] += add;
            feature_hist[f + 3][row_bins[f + 3]] += add;
        }
        for (; f < num_features; ++f) feature_hist[f][row_bins[f]] += add;
    }
}

}  // namespace

int64_t histogram_blocks(int64_t rows) {
    return std::clamp<int64_t>((rows + kHistogramBlockRows - 1) / kHistogramBlockRows, 1, kHistogramMaxBlocks);
}

int64_t histogram_scratch_size(int64_t rows, int64_t total_bins) {
    return (histogram_blocks(rows) - 1) * total_bins * kHistogramStats;
}

void histogram_build(const uint8_t* bins, int64_t num_features, const int32_t* feature_offsets, int64_t total_bins,
                     const float* gradients, const float* hessians, const int32_t* row_indices, int64_t rows,
                     double* histogram, double* scratch) {
    const int64_t blocks = histogram_blocks(rows);
    const int64_t slots = total_bins * kHistogramStats;
#pragma omp parallel if (blocks > 1)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; ++b) {
            double* hist = b == 0 ? histogram : scratch + (b - 1) * slots;
            std::memset(hist, 0, static_cast<size_t>(slots) * sizeof(double));
            const int64_t begin = rows * b / blocks, end = rows * (b + 1) / blocks;
            // The op checks that histograms are 32-byte aligned.
            auto* sums = reinterpret_cast<BinSums*>(hist);
            std::vector<BinSums*> feature_hist(static_cast<size_t>(num_features));
            for (int64_t f = 0; f < num_features; ++f) feature_hist[static_cast<size_t>(f)] = sums + feature_offsets[f];
            if (row_indices != nullptr)
                accumulate_rows<true>(bins, num_features, feature_hist.data(), gradients, hessians, row_indices, begin,
                                      end);
            else
                accumulate_rows<false>(bins, num_features, feature_hist.data(), gradients, hessians, nullptr, begin, end);
        }
        // Each slot adds the block histograms in block order.
        if (blocks > 1) {
#pragma omp for schedule(static)
            for (int64_t s = 0; s < slots; ++s) {
                double acc = histogram[s];
                for (int64_t b = 1; b < blocks; ++b) acc += scratch[(b - 1) * slots + s];
                histogram[s] = acc;
            }
        }
    }
}

void histogram_subtract(const double* parent, const double* child, double* out, int64_t total_bins) {
    const int64_t slots = total_bins * kHistogramStats;
    for (int64_t s = 0; s < slots; ++s) out[s] = parent[s] - child[s];
}

}  // namespace skipper::cpu
