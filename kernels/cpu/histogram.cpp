#include "kernels/cpu/histogram.h"

#include <algorithm>
#include <cstring>

namespace skipper::cpu {

namespace {

// Adds the rows [begin, end) into `hist` (already zeroed).
template <bool kIndexed>
void accumulate_rows(const uint8_t* bins, int64_t num_features, const int32_t* feature_offsets, const float* gradients,
                     const float* hessians, const int32_t* row_indices, int64_t begin, int64_t end, double* hist) {
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
        const double g = gradients[row];
        const double h = hessians[row];
        const uint8_t* row_bins = bins + row * num_features;
        for (int64_t f = 0; f < num_features; ++f) {
            double* slot = hist + kHistogramStats * (feature_offsets[f] + row_bins[f]);
            slot[0] += g;
            slot[1] += h;
            slot[2] += 1.0;
        }
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
            if (row_indices != nullptr)
                accumulate_rows<true>(bins, num_features, feature_offsets, gradients, hessians, row_indices, begin, end,
                                      hist);
            else
                accumulate_rows<false>(bins, num_features, feature_offsets, gradients, hessians, nullptr, begin, end,
                                       hist);
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
