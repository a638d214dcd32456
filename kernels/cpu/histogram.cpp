#include "kernels/cpu/histogram.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace skipper::cpu {

namespace {

// One float histogram bin as a 4-wide vector (GCC/Clang vector extension:
// AVX on x86-64 with AVX, two SSE halves otherwise).
using BinSums = double __attribute__((vector_size(32)));
static_assert(sizeof(BinSums) == kHistogramStats * sizeof(double));

// Rows ahead whose bins and statistics are prefetched: gathered rows then
// arrive while earlier ones are being added.
constexpr int64_t kPrefetchDistance = 16;

// What one row adds to each of its bins, per kind of sums.
struct FloatSums {
    using Slot = BinSums;
    static Slot value(const HistogramSource& s, int64_t row) {
        return Slot{static_cast<double>(s.gradients[row]), static_cast<double>(s.hessians[row]), 1.0, 0.0};
    }
    static void prefetch(const HistogramSource& s, int64_t row) {
        __builtin_prefetch(s.gradients + row);
        __builtin_prefetch(s.hessians + row);
    }
};

struct Packed32Sums {
    using Slot = uint32_t;
    // g * 2^16 + h in two's complement: 32-bit wrapping sums keep both fields
    // exact while they stay in range.
    static Slot value(const HistogramSource& s, int64_t row) { return static_cast<uint32_t>(s.quantized[row]); }
    static void prefetch(const HistogramSource& s, int64_t row) { __builtin_prefetch(s.quantized + row); }
};

struct Packed64Sums {
    using Slot = uint64_t;
    static Slot value(const HistogramSource& s, int64_t row) {
        const int32_t q = s.quantized[row];
        return pack_quantized_sums(q >> 16, q & 0xffff);
    }
    static void prefetch(const HistogramSource& s, int64_t row) { __builtin_prefetch(s.quantized + row); }
};

template <class Sums>
inline void add_row(const HistogramSource& s, typename Sums::Slot* __restrict hist, const int32_t* __restrict offsets,
                    int64_t row) {
    const typename Sums::Slot v = Sums::value(s, row);
    const uint8_t* __restrict row_bins = s.bins + row * s.num_features;
    const int64_t features = s.num_features;
    int64_t f = 0;
    for (; f + 4 <= features; f += 4) {
        hist[offsets[f] + row_bins[f]] += v;
        hist[offsets[f + 1] + row_bins[f + 1]] += v;
        hist[offsets[f + 2] + row_bins[f + 2]] += v;
        hist[offsets[f + 3] + row_bins[f + 3]] += v;
    }
    for (; f < features; ++f) hist[offsets[f] + row_bins[f]] += v;
}

template <class Sums>
void prefetch_row(const HistogramSource& s, int64_t row) {
    __builtin_prefetch(s.bins + row * s.num_features);
    Sums::prefetch(s, row);
}

template <class Sums, bool kIndexed>
void accumulate(const HistogramSource& s, void* hist, const int32_t* rows, int64_t begin, int64_t end) {
    auto* h = static_cast<typename Sums::Slot*>(hist);
    std::memset(h, 0, static_cast<size_t>(s.total_bins) * sizeof(typename Sums::Slot));
    for (int64_t i = begin; i < end; ++i) {
        if constexpr (kIndexed) {
            if (i + kPrefetchDistance < end) prefetch_row<Sums>(s, rows[i + kPrefetchDistance]);
            add_row<Sums>(s, h, s.feature_offsets, rows[i]);
        } else {
            add_row<Sums>(s, h, s.feature_offsets, i);
        }
    }
}

// Splits rows[begin, end) into out: left rows forward from out + begin, right
// rows backward from out + end; adds the rows of the side being built to hist.
// Returns the left count.
template <class Sums>
int64_t partition_block(const HistogramSource& s, const uint8_t* column, const uint8_t* goes_left, bool build_left,
                        const int32_t* rows, int64_t begin, int64_t end, int32_t* out, void* hist) {
    auto* h = static_cast<typename Sums::Slot*>(hist);
    std::memset(h, 0, static_cast<size_t>(s.total_bins) * sizeof(typename Sums::Slot));
    const int64_t stride = s.num_features;
    int32_t* left = out + begin;
    int32_t* right = out + end;
    for (int64_t i = begin; i < end; ++i) {
        if (i + kPrefetchDistance < end) prefetch_row<Sums>(s, rows[i + kPrefetchDistance]);
        const int32_t row = rows[i];
        const bool is_left = goes_left[column[static_cast<int64_t>(row) * stride]] != 0;
        if (is_left) *left++ = row;
        else *--right = row;
        if (is_left == build_left) add_row<Sums>(s, h, s.feature_offsets, row);
    }
    return left - (out + begin);
}

struct BlockPlan {
    int64_t blocks = 1;
    std::array<HistogramSums, kHistogramMaxBlocks> sums{};
    int64_t begin(int64_t n, int64_t b) const { return n * b / blocks; }
};

BlockPlan plan_blocks(const HistogramSource& s, int64_t n) {
    BlockPlan plan;
    plan.blocks = histogram_blocks(n, s.block_rows);
    for (int64_t b = 0; b < plan.blocks; ++b) {
        const int64_t rows = plan.begin(n, b + 1) - plan.begin(n, b);
        plan.sums[static_cast<size_t>(b)] =
            s.quant_bins > 0 ? quantized_block_sums(rows, s.quant_bins) : HistogramSums::f64;
    }
    return plan;
}

int64_t slot_bytes(const HistogramSource& s) {
    return s.quant_bins > 0 ? static_cast<int64_t>(sizeof(uint64_t)) : kHistogramStats * static_cast<int64_t>(sizeof(double));
}

// Block 0 writes straight into the output unless it needs the narrow sums;
// the others write into the scratch.
void* block_histogram(const HistogramSource& s, const BlockPlan& plan, int64_t b, void* histogram, void* scratch) {
    if (b == 0 && plan.sums[0] != HistogramSums::packed32) return histogram;
    return static_cast<char*>(scratch) + b * s.total_bins * slot_bytes(s);
}

// Runs body(b) for every block: small leaves on the calling thread, with no
// parallel region.
template <class Body>
void for_each_block(int64_t blocks, Body&& body) {
    if (blocks == 1) {
        body(0);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) body(b);
}

uint64_t widened(const void* block, HistogramSums sums, int64_t slot) {
    if (sums == HistogramSums::packed64) return static_cast<const uint64_t*>(block)[slot];
    const uint32_t packed = static_cast<const uint32_t*>(block)[slot];
    const int64_t hessian = packed & 0xffffu;
    return pack_quantized_sums((static_cast<int32_t>(packed) - static_cast<int32_t>(hessian)) / 65536, hessian);
}

// Adds the block histograms into the output, slot by slot in block order.
// Slots [begin, end) only, so callers can split the work.
void merge_blocks(const HistogramSource& s, const BlockPlan& plan, void* histogram, void* scratch, int64_t begin,
                  int64_t end) {
    if (s.quant_bins == 0) {
        auto* out = static_cast<double*>(histogram);
        for (int64_t i = begin * kHistogramStats; i < end * kHistogramStats; ++i) {
            double acc = out[i];
            for (int64_t b = 1; b < plan.blocks; ++b)
                acc += static_cast<const double*>(block_histogram(s, plan, b, histogram, scratch))[i];
            out[i] = acc;
        }
        return;
    }
    auto* out = static_cast<uint64_t*>(histogram);
    const bool first_in_place = plan.sums[0] != HistogramSums::packed32;
    for (int64_t slot = begin; slot < end; ++slot) {
        uint64_t acc = first_in_place ? out[slot] : widened(block_histogram(s, plan, 0, histogram, scratch), plan.sums[0], slot);
        for (int64_t b = 1; b < plan.blocks; ++b)
            acc += widened(block_histogram(s, plan, b, histogram, scratch), plan.sums[static_cast<size_t>(b)], slot);
        out[slot] = acc;
    }
}

bool needs_merge(const BlockPlan& plan) { return plan.blocks > 1 || plan.sums[0] == HistogramSums::packed32; }

template <bool kIndexed>
void accumulate_block(const HistogramSource& s, HistogramSums sums, void* hist, const int32_t* rows, int64_t begin,
                      int64_t end) {
    switch (sums) {
        case HistogramSums::f64: accumulate<FloatSums, kIndexed>(s, hist, rows, begin, end); break;
        case HistogramSums::packed32: accumulate<Packed32Sums, kIndexed>(s, hist, rows, begin, end); break;
        case HistogramSums::packed64: accumulate<Packed64Sums, kIndexed>(s, hist, rows, begin, end); break;
    }
}

}  // namespace

bool quantized_sums_fit_64(int64_t rows, int64_t quant_bins) {
    return rows * quantized_gradient_limit(quant_bins) <= INT32_MAX &&
           rows * quantized_hessian_limit(quant_bins) <= int64_t{UINT32_MAX};
}

HistogramSums quantized_block_sums(int64_t rows, int64_t quant_bins) {
    // A bin's sums are bounded by every row of the block landing in it.
    const bool fits_16 = rows * quantized_gradient_limit(quant_bins) <= INT16_MAX &&
                         rows * quantized_hessian_limit(quant_bins) <= int64_t{UINT16_MAX};
    return fits_16 ? HistogramSums::packed32 : HistogramSums::packed64;
}

int64_t histogram_blocks(int64_t rows, int64_t block_rows) {
    return std::clamp<int64_t>((rows + block_rows - 1) / block_rows, 1, kHistogramMaxBlocks);
}

int64_t histogram_scratch_bytes(const HistogramSource& source, int64_t rows) {
    return histogram_blocks(rows, source.block_rows) * source.total_bins * slot_bytes(source);
}

void histogram_build(const HistogramSource& source, const int32_t* row_indices, int64_t rows, void* histogram,
                     void* scratch) {
    const BlockPlan plan = plan_blocks(source, rows);
    for_each_block(plan.blocks, [&](int64_t b) {
        void* hist = block_histogram(source, plan, b, histogram, scratch);
        const int64_t begin = plan.begin(rows, b), end = plan.begin(rows, b + 1);
        if (row_indices != nullptr) accumulate_block<true>(source, plan.sums[static_cast<size_t>(b)], hist, row_indices, begin, end);
        else accumulate_block<false>(source, plan.sums[static_cast<size_t>(b)], hist, nullptr, begin, end);
    });
    if (needs_merge(plan)) {
        const int64_t parts = plan.blocks;
        for_each_block(parts, [&](int64_t p) {
            merge_blocks(source, plan, histogram, scratch, source.total_bins * p / parts, source.total_bins * (p + 1) / parts);
        });
    }
}

int64_t partition_histogram(const HistogramSource& source, int32_t split_feature, const uint8_t* goes_left,
                            bool build_left, int32_t* rows, int64_t n, int32_t* row_scratch, void* histogram,
                            void* scratch) {
    const BlockPlan plan = plan_blocks(source, n);
    const uint8_t* column = source.bins + split_feature;
    std::array<int64_t, kHistogramMaxBlocks + 1> left_before{};
    for_each_block(plan.blocks, [&](int64_t b) {
        void* hist = block_histogram(source, plan, b, histogram, scratch);
        const int64_t begin = plan.begin(n, b), end = plan.begin(n, b + 1);
        int64_t left = 0;
        switch (plan.sums[static_cast<size_t>(b)]) {
            case HistogramSums::f64:
                left = partition_block<FloatSums>(source, column, goes_left, build_left, rows, begin, end, row_scratch, hist);
                break;
            case HistogramSums::packed32:
                left = partition_block<Packed32Sums>(source, column, goes_left, build_left, rows, begin, end, row_scratch, hist);
                break;
            case HistogramSums::packed64:
                left = partition_block<Packed64Sums>(source, column, goes_left, build_left, rows, begin, end, row_scratch, hist);
                break;
        }
        left_before[static_cast<size_t>(b) + 1] = left;
    });
    for (int64_t b = 0; b < plan.blocks; ++b) left_before[static_cast<size_t>(b) + 1] += left_before[static_cast<size_t>(b)];
    const int64_t total_left = left_before[static_cast<size_t>(plan.blocks)];
    // Each block's left rows to the front in order, its right rows (stored
    // backwards) after every left row, in order; then the histogram merge.
    const bool merge = needs_merge(plan);
    for_each_block(plan.blocks, [&](int64_t b) {
        const int64_t begin = plan.begin(n, b), end = plan.begin(n, b + 1);
        const int64_t left = left_before[static_cast<size_t>(b) + 1] - left_before[static_cast<size_t>(b)];
        std::memcpy(rows + left_before[static_cast<size_t>(b)], row_scratch + begin, static_cast<size_t>(left) * sizeof(int32_t));
        int32_t* right_out = rows + total_left + (begin - left_before[static_cast<size_t>(b)]);
        for (int64_t k = 0; k < end - begin - left; ++k) right_out[k] = row_scratch[end - 1 - k];
        if (merge)
            merge_blocks(source, plan, histogram, scratch, source.total_bins * b / plan.blocks,
                         source.total_bins * (b + 1) / plan.blocks);
    });
    return total_left;
}

void histogram_subtract(const double* parent, const double* child, double* out, int64_t total_bins) {
    const int64_t slots = total_bins * kHistogramStats;
    for (int64_t s = 0; s < slots; ++s) out[s] = parent[s] - child[s];
}

void histogram_subtract(const uint64_t* parent, const uint64_t* child, uint64_t* out, int64_t total_bins) {
    // Wrapping differences of the packed pairs are the packed differences.
    for (int64_t s = 0; s < total_bins; ++s) out[s] = parent[s] - child[s];
}

}  // namespace skipper::cpu
