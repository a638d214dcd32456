#include "kernels/cpu/histogram.h"

#include <algorithm>
#include <array>
#include <atomic>
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

struct Packed16Sums {
    using Slot = uint16_t;
    // g * 2^8 + h in 16-bit two's complement, the 8-bit analogue of Packed32Sums.
    static Slot value(const HistogramSource& s, int64_t row) {
        const int32_t q = s.quantized[row];
        return static_cast<uint16_t>((q >> 16) * 256 + (q & 0xffff));
    }
    static void prefetch(const HistogramSource& s, int64_t row) { __builtin_prefetch(s.quantized + row); }
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

// Rows a column-wise histogram handles at a time: a chunk's values (8 KB of
// float sums at most) stay in L1 while its rows are added feature by feature.
constexpr int64_t kChunkRows = 256;

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

// One row from the column-wise bins: a line per feature for a scattered row.
template <class Sums>
inline void add_row_from_columns(const HistogramSource& s, typename Sums::Slot* __restrict hist, int64_t row) {
    const typename Sums::Slot v = Sums::value(s, row);
    for (int64_t f = 0; f < s.num_features; ++f) hist[s.feature_offsets[f] + s.columns[f * s.rows + row]] += v;
}

template <class Sums>
void prefetch_row(const HistogramSource& s, int64_t row) {
    // A row line that crosses a cache line needs both lines.
    __builtin_prefetch(s.bins + row * s.num_features);
    __builtin_prefetch(s.bins + row * s.num_features + s.num_features - 1);
    Sums::prefetch(s, row);
}

// Column-wise: hist += rows[0, n) (n <= kChunkRows), the chunk's values
// gathered once (LightGBM's ordered gradients), then one column at a time.
// Every bin still receives its rows in row order: float sums are the same
// bits as row-wise.
template <class Sums>
void add_rows_from_columns(const HistogramSource& s, typename Sums::Slot* __restrict hist,
                           const int32_t* __restrict rows, int64_t n) {
    alignas(32) typename Sums::Slot values[kChunkRows];
    for (int64_t k = 0; k < n; ++k) {
        if (k + kPrefetchDistance < n) Sums::prefetch(s, rows[k + kPrefetchDistance]);
        values[k] = Sums::value(s, rows[k]);
    }
    for (int64_t f = 0; f < s.num_features; ++f) {
        const uint8_t* __restrict column = s.columns + f * s.rows;
        typename Sums::Slot* __restrict h = hist + s.feature_offsets[f];
        for (int64_t k = 0; k < n; ++k) h[column[rows[k]]] += values[k];
    }
}

template <class Sums>
void accumulate(const HistogramSource& s, void* hist, const int32_t* rows, int64_t begin, int64_t end) {
    auto* h = static_cast<typename Sums::Slot*>(hist);
    std::memset(h, 0, static_cast<size_t>(s.total_bins) * sizeof(typename Sums::Slot));
    if (s.bins != nullptr) {
        for (int64_t i = begin; i < end; ++i) {
            if (rows == nullptr) {
                add_row<Sums>(s, h, s.feature_offsets, i);
                continue;
            }
            if (i + kPrefetchDistance < end) prefetch_row<Sums>(s, rows[i + kPrefetchDistance]);
            add_row<Sums>(s, h, s.feature_offsets, rows[i]);
        }
        return;
    }
    int32_t every_row[kChunkRows];
    for (int64_t chunk = begin; chunk < end; chunk += kChunkRows) {
        const int64_t n = std::min(kChunkRows, end - chunk);
        if (rows == nullptr)
            for (int64_t k = 0; k < n; ++k) every_row[k] = static_cast<int32_t>(chunk + k);
        add_rows_from_columns<Sums>(s, h, rows != nullptr ? rows + chunk : every_row, n);
    }
}

// Splits rows[begin, end) into out: left rows forward from out + begin, right
// rows backward from out + end; then adds the rows of the side being built to
// hist, in row order. Returns the left count. Two passes over the block (as
// LightGBM partitions, then builds): the split routes every row without a
// branch (each row is written to both sides' next slot and only one pointer
// moves: the unclaimed slot lies between the two fronts and is overwritten
// later), reading only the split feature's byte, from its column when there
// is one; then the built side's rows are added with their lines prefetched
// ahead. A branch per row on its side mispredicted about half the time, and
// prefetching every routed row's whole line fetched the other side's lines
// for nothing. With kBuild false (partition_rows) it only splits.
template <class Sums, bool kBuild = true>
int64_t partition_block(const HistogramSource& s, int32_t split_feature, const uint8_t* goes_left, bool build_left,
                        const int32_t* rows, int64_t begin, int64_t end, int32_t* out, void* hist) {
    const bool route_rows = s.columns == nullptr;
    const int64_t stride = route_rows ? s.num_features : 1;
    const uint8_t* column = route_rows ? s.bins + split_feature : s.columns + split_feature * s.rows;
    int32_t* left = out + begin;
    int32_t* right = out + end;
    for (int64_t i = begin; i < end; ++i) {
        if (i + kPrefetchDistance < end) __builtin_prefetch(column + rows[i + kPrefetchDistance] * stride);
        const int32_t row = rows[i];
        const int64_t is_left = goes_left[column[static_cast<int64_t>(row) * stride]] != 0;
        *left = row;
        right[-1] = row;
        left += is_left;
        right -= 1 - is_left;
    }
    const int64_t left_count = left - (out + begin);
    if constexpr (kBuild) {
        auto* h = static_cast<typename Sums::Slot*>(hist);
        std::memset(h, 0, static_cast<size_t>(s.total_bins) * sizeof(typename Sums::Slot));
        // Right rows sit backwards: walk them down to add in row order (the
        // direction a compile-time constant: no multiply per row).
        const auto add_side = [&]<int64_t kStep>(const int32_t* first, int64_t n) {
            for (int64_t k = 0; k < n; ++k) {
                if (k + kPrefetchDistance < n) {
                    const int32_t ahead = first[(k + kPrefetchDistance) * kStep];
                    if (s.bins != nullptr) prefetch_row<Sums>(s, ahead);
                    else Sums::prefetch(s, ahead);
                }
                const int32_t row = first[k * kStep];
                if (s.bins != nullptr) add_row<Sums>(s, h, s.feature_offsets, row);
                else add_row_from_columns<Sums>(s, h, row);
            }
        };
        if (build_left) add_side.template operator()<1>(out + begin, left_count);
        else add_side.template operator()<-1>(out + end - 1, end - begin - left_count);
    }
    return left_count;
}

struct BlockPlan {
    int64_t blocks = 1;
    std::array<HistogramSums, kHistogramMaxBlocks> sums{};
    int64_t begin(int64_t n, int64_t b) const { return n * b / blocks; }
};

BlockPlan plan_blocks(const HistogramSource& s, int64_t n) {
    BlockPlan plan;
    plan.blocks = histogram_blocks(n, s.block_rows, s.quant_bins > 0 ? kHistogramMaxBlocks : kFloatHistogramMaxBlocks);
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
bool narrow(HistogramSums sums) { return sums == HistogramSums::packed16 || sums == HistogramSums::packed32; }

void* block_histogram(const HistogramSource& s, const BlockPlan& plan, int64_t b, void* histogram, void* scratch) {
    if (b == 0 && !narrow(plan.sums[0])) return histogram;
    return static_cast<char*>(scratch) + b * s.total_bins * slot_bytes(s);
}

// Runs body(b) for every block: small leaves on the calling thread, with no
// parallel region.
std::atomic<int64_t> parallel_regions{0};

template <class Body>
void for_each_block(int64_t blocks, Body&& body) {
    if (blocks == 1) {
        body(0);
        return;
    }
    parallel_regions.fetch_add(1, std::memory_order_relaxed);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) body(b);
}

uint64_t widened(const void* block, HistogramSums sums, int64_t slot) {
    if (sums == HistogramSums::packed64) return static_cast<const uint64_t*>(block)[slot];
    if (sums == HistogramSums::packed16) {
        const uint16_t packed = static_cast<const uint16_t*>(block)[slot];
        const int64_t hessian = packed & 0xffu;
        return pack_quantized_sums((static_cast<int16_t>(packed) - hessian) / 256, hessian);
    }
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
    const bool first_in_place = !narrow(plan.sums[0]);
    for (int64_t slot = begin; slot < end; ++slot) {
        uint64_t acc = first_in_place ? out[slot] : widened(block_histogram(s, plan, 0, histogram, scratch), plan.sums[0], slot);
        for (int64_t b = 1; b < plan.blocks; ++b)
            acc += widened(block_histogram(s, plan, b, histogram, scratch), plan.sums[static_cast<size_t>(b)], slot);
        out[slot] = acc;
    }
}

bool needs_merge(const BlockPlan& plan) { return plan.blocks > 1 || narrow(plan.sums[0]); }

// Calls body(Sums{}) with the row type of `sums`.
template <class Body>
auto with_sums(HistogramSums sums, Body&& body) {
    switch (sums) {
        case HistogramSums::packed16: return body(Packed16Sums{});
        case HistogramSums::packed32: return body(Packed32Sums{});
        case HistogramSums::packed64: return body(Packed64Sums{});
        case HistogramSums::f64: break;
    }
    return body(FloatSums{});
}

}  // namespace

bool quantized_sums_fit_64(int64_t rows, int64_t quant_bins) {
    return rows * quantized_gradient_limit(quant_bins) <= INT32_MAX &&
           rows * quantized_hessian_limit(quant_bins) <= int64_t{UINT32_MAX};
}

HistogramSums quantized_block_sums(int64_t rows, int64_t quant_bins) {
    // A bin's sums are bounded by every row of the block landing in it.
    const auto fits = [&](int64_t signed_max, int64_t unsigned_max) {
        return rows * quantized_gradient_limit(quant_bins) <= signed_max &&
               rows * quantized_hessian_limit(quant_bins) <= unsigned_max;
    };
    if (fits(INT8_MAX, UINT8_MAX)) return HistogramSums::packed16;
    return fits(INT16_MAX, UINT16_MAX) ? HistogramSums::packed32 : HistogramSums::packed64;
}

int64_t histogram_blocks(int64_t rows, int64_t block_rows, int64_t max_blocks) {
    return std::clamp<int64_t>((rows + block_rows - 1) / block_rows, 1, max_blocks);
}

int64_t histogram_scratch_bytes(const HistogramSource& source, int64_t rows) {
    return plan_blocks(source, rows).blocks * source.total_bins * slot_bytes(source);
}

void histogram_build(const HistogramSource& source, const int32_t* row_indices, int64_t rows, void* histogram,
                     void* scratch) {
    const BlockPlan plan = plan_blocks(source, rows);
    for_each_block(plan.blocks, [&](int64_t b) {
        void* hist = block_histogram(source, plan, b, histogram, scratch);
        const int64_t begin = plan.begin(rows, b), end = plan.begin(rows, b + 1);
        with_sums(plan.sums[static_cast<size_t>(b)], [&]<class Sums>(Sums) {
            accumulate<Sums>(source, hist, row_indices, begin, end);
        });
    });
    if (needs_merge(plan)) {
        const int64_t parts = plan.blocks;
        for_each_block(parts, [&](int64_t p) {
            merge_blocks(source, plan, histogram, scratch, source.total_bins * p / parts, source.total_bins * (p + 1) / parts);
        });
    }
}

namespace {

// After the blocks of a partition: left_before[b + 1] holds block b's left
// count. Moves each block's left rows to the front in order, its right rows
// (stored backwards) after every left row, in order; with `merge`, merges the
// block histograms in the same parallel pass. Returns the left count.
int64_t gather_sides(const HistogramSource& source, const BlockPlan& plan, int64_t n,
                     std::array<int64_t, kHistogramMaxBlocks + 1>& left_before, int32_t* rows, const int32_t* row_scratch,
                     bool merge, void* histogram, void* scratch) {
    for (int64_t b = 0; b < plan.blocks; ++b) left_before[static_cast<size_t>(b) + 1] += left_before[static_cast<size_t>(b)];
    const int64_t total_left = left_before[static_cast<size_t>(plan.blocks)];
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

}  // namespace

int64_t partition_histogram(const HistogramSource& source, int32_t split_feature, const uint8_t* goes_left,
                            bool build_left, int32_t* rows, int64_t n, int32_t* row_scratch, void* histogram,
                            void* scratch) {
    const BlockPlan plan = plan_blocks(source, n);
    std::array<int64_t, kHistogramMaxBlocks + 1> left_before{};
    for_each_block(plan.blocks, [&](int64_t b) {
        void* hist = block_histogram(source, plan, b, histogram, scratch);
        const int64_t begin = plan.begin(n, b), end = plan.begin(n, b + 1);
        const int64_t left = with_sums(plan.sums[static_cast<size_t>(b)], [&]<class Sums>(Sums) {
            return partition_block<Sums>(source, split_feature, goes_left, build_left, rows, begin, end, row_scratch, hist);
        });
        left_before[static_cast<size_t>(b) + 1] = left;
    });
    return gather_sides(source, plan, n, left_before, rows, row_scratch, needs_merge(plan), histogram, scratch);
}

int64_t partition_rows(const HistogramSource& source, int32_t split_feature, const uint8_t* goes_left, int32_t* rows,
                       int64_t n, int32_t* row_scratch) {
    // Blocks as for the histogram (sums unused): the same parallelism.
    const BlockPlan plan = plan_blocks(source, n);
    std::array<int64_t, kHistogramMaxBlocks + 1> left_before{};
    for_each_block(plan.blocks, [&](int64_t b) {
        left_before[static_cast<size_t>(b) + 1] = partition_block<Packed32Sums, false>(
            source, split_feature, goes_left, true, rows, plan.begin(n, b), plan.begin(n, b + 1), row_scratch, nullptr);
    });
    return gather_sides(source, plan, n, left_before, rows, row_scratch, false, nullptr, nullptr);
}

void bins_column_major(const uint8_t* bins, int64_t rows, int64_t features, uint8_t* out) {
    // Tiles of 64 rows: each tile reads 64 row lines and writes 64 bytes per
    // column, one line each.
    constexpr int64_t kTile = 64;
#pragma omp parallel for schedule(static)
    for (int64_t tile = 0; tile < (rows + kTile - 1) / kTile; ++tile) {
        const int64_t begin = tile * kTile, end = std::min(rows, begin + kTile);
        for (int64_t f = 0; f < features; ++f)
            for (int64_t r = begin; r < end; ++r) out[f * rows + r] = bins[r * features + f];
    }
}

void bundle_bins(const uint8_t* bins, int64_t rows, int64_t features, const int32_t* bundle, const int32_t* stride,
                 int64_t bundles, uint8_t* out) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t* row_out = out + r * bundles;
        std::memset(row_out, 0, static_cast<size_t>(bundles));
        for (int64_t f = 0; f < features; ++f)
            row_out[bundle[f]] = static_cast<uint8_t>(row_out[bundle[f]] + bins[r * features + f] * stride[f]);
    }
}

int64_t histogram_parallel_regions() { return parallel_regions.load(std::memory_order_relaxed); }

void histogram_subtract(const double* parent, const double* child, double* out, int64_t total_bins) {
    const int64_t slots = total_bins * kHistogramStats;
    for (int64_t s = 0; s < slots; ++s) out[s] = parent[s] - child[s];
}

void histogram_subtract(const uint64_t* parent, const uint64_t* child, uint64_t* out, int64_t total_bins) {
    // Wrapping differences of the packed pairs are the packed differences.
    for (int64_t s = 0; s < total_bins; ++s) out[s] = parent[s] - child[s];
}

}  // namespace skipper::cpu
