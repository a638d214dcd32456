#include "engine/histogram_ops.h"

#include <initializer_list>
#include <string>

#include "engine/error.h"
#include "kernels/cpu/histogram.h"

namespace skipper::ops {

static_assert(kHistogramFloatStats == cpu::kHistogramStats);
static_assert(kDefaultHistogramBlockRows == cpu::kDefaultHistogramBlockRows);
static_assert(kMaxQuantBins == cpu::kMaxQuantBins);

namespace {

// The message is built only on failure: these checks run for every leaf.
template <class Message>
void require(bool condition, const char* op, Message&& what) {
    if (!condition) throw Error(std::string(op) + ": " + what());
}

void require_cpu(const char* op, const Tensor& t) {
    // The CUDA twin has not been written yet; say so rather than misread device memory.
    require(t.device() == Device::cpu, op, [&] { return "no CUDA kernel yet for " + t.describe(); });
}

bool quantized(const HistogramRows& rows) { return rows.quant_bins > 0; }

int64_t total_bins(const HistogramRows& rows) {
    return rows.feature_offsets.data<int32_t>()[rows.feature_offsets.numel() - 1];
}

// Checks the inputs and returns the kernel's view of them.
cpu::HistogramSource source_of(const char* op, const HistogramRows& in) {
    require(in.bins.defined() || in.columns.defined(), op, [&] { return "expected bins, columns or both, got neither"; });
    const int64_t rows = histogram_row_count(in);
    const int64_t features = in.bins.defined() ? in.bins.size(1) : in.columns.size(0);
    for (const Tensor* t : {&in.bins, &in.columns}) {
        if (!t->defined()) continue;
        const bool row_wise = t == &in.bins;
        // Next to bins, columns hold the features partitions split on, which
        // may be bundled into fewer histogram columns in bins.
        const bool any_features = !row_wise && in.bins.defined();
        require(t->dim() == 2 && t->dtype() == DType::u8 && t->size(row_wise ? 0 : 1) == rows &&
                    (any_features || t->size(row_wise ? 1 : 0) == features),
                op, [&] {
                    return std::string("expected u8 ") + (row_wise ? "bins [" : "columns [") +
                           std::to_string(row_wise ? rows : features) + ", " + std::to_string(row_wise ? features : rows) +
                           "], got " + t->describe();
                });
        require_cpu(op, *t);
    }
    const Tensor& offsets = in.feature_offsets;
    require(offsets.defined() && offsets.dim() == 1 && offsets.dtype() == DType::i32 && offsets.size(0) == features + 1,
            op, [&] {
                return "expected i32 feature_offsets [" + std::to_string(features + 1) + "], got " + offsets.describe();
            });
    require(in.block_rows > 0, op, [&] { return "block_rows must be positive, got " + std::to_string(in.block_rows); });
    require(in.quant_bins >= 0 && in.quant_bins <= kMaxQuantBins, op,
            [&] { return "quant_bins must be in [0, " + std::to_string(kMaxQuantBins) + "], got " + std::to_string(in.quant_bins); });
    require_cpu(op, offsets);
    cpu::HistogramSource s;
    s.bins = in.bins.defined() ? in.bins.data<uint8_t>() : nullptr;
    s.columns = in.columns.defined() ? in.columns.data<uint8_t>() : nullptr;
    s.num_features = features;
    s.rows = rows;
    s.feature_offsets = offsets.data<int32_t>();
    s.total_bins = s.feature_offsets[features];
    s.quant_bins = in.quant_bins;
    s.block_rows = in.block_rows;
    if (quantized(in)) {
        const Tensor& q = in.quantized;
        require(q.defined() && q.dim() == 1 && q.dtype() == DType::i32 && q.size(0) == rows, op,
                [&] { return "expected i32 quantized [" + std::to_string(rows) + "], got " + q.describe(); });
        require_cpu(op, q);
        s.quantized = q.data<int32_t>();
    } else {
        for (const Tensor* t : {&in.gradients, &in.hessians}) {
            require(t->defined() && t->dim() == 1 && t->dtype() == DType::f32 && t->size(0) == rows, op,
                    [&] { return "expected f32 gradients and hessians [" + std::to_string(rows) + "], got " + t->describe(); });
            require_cpu(op, *t);
        }
        s.gradients = in.gradients.data<float>();
        s.hessians = in.hessians.data<float>();
    }
    return s;
}

void check_histogram(const char* op, const HistogramRows& in, const Tensor& histogram) {
    const int64_t bins = total_bins(in);
    if (quantized(in))
        require(histogram.dim() == 2 && histogram.dtype() == DType::i32 && histogram.size(0) == bins &&
                    histogram.size(1) == 2,
                op, [&] { return "expected i32 histogram [" + std::to_string(bins) + ", 2], got " + histogram.describe(); });
    else
        require(histogram.dim() == 2 && histogram.dtype() == DType::f64 && histogram.size(0) == bins &&
                    histogram.size(1) == kHistogramFloatStats,
                op, [&] { return "expected f64 histogram [" + std::to_string(bins) + ", 4], got " + histogram.describe(); });
    require_cpu(op, histogram);
    require(reinterpret_cast<uintptr_t>(histogram.raw()) % 32 == 0, op, [&] { return "the histogram must be 32-byte aligned"; });
}

void check_scratch(const char* op, const cpu::HistogramSource& s, const Tensor& scratch, int64_t rows) {
    const int64_t bytes = cpu::histogram_scratch_bytes(s, rows);
    require(scratch.defined() && scratch.dtype() == DType::u8 && scratch.numel() >= bytes, op,
            [&] { return "expected u8 scratch of at least " + std::to_string(bytes) + " bytes, got " + scratch.describe(); });
    require_cpu(op, scratch);
    require(reinterpret_cast<uintptr_t>(scratch.raw()) % 32 == 0, op, [&] { return "the scratch must be 32-byte aligned"; });
}

void check_rows(const char* op, const Tensor& t, int64_t rows) {
    require(t.defined() && t.dim() == 1 && t.dtype() == DType::i32, op,
            [&] { return "expected i32 row indices [n], got " + t.describe(); });
    require_cpu(op, t);
    // The ids themselves are not checked (a pass over every leaf's rows): they
    // come from the learner's own partition of 0 .. rows - 1.
    require(t.numel() <= rows, op, [&] { return std::to_string(t.numel()) + " row indices for " + std::to_string(rows) + " rows"; });
}

}  // namespace

int64_t histogram_row_count(const HistogramRows& rows) {
    if (rows.bins.defined()) return rows.bins.dim() == 2 ? rows.bins.size(0) : 0;
    return rows.columns.defined() && rows.columns.dim() == 2 ? rows.columns.size(1) : 0;
}

HistogramLayout choose_histogram_layout(int64_t features, bool force_col_wise, bool force_row_wise) {
    if (force_col_wise) return HistogramLayout::col_wise;
    if (force_row_wise) return HistogramLayout::row_wise;
    // With one feature the two layouts are the same bytes: no copy to make.
    if (features == 1) return HistogramLayout::row_wise;
    // The cost is cache lines. Below the root a leaf's rows are scattered over
    // the whole set: adding a scattered row to a histogram reads ceil(F / 64)
    // lines row-wise and F lines column-wise, so histograms read rows. A
    // partition routes every row of its leaf but builds only the smaller
    // side: from rows it reads a line per routed row, from the split column
    // one byte. Measured (2026-12-01, 1 thread, seed task 13 features and
    // session task 49): column-wise took 1.3x and 1.5x the CPU time of
    // row-wise. With the two-pass partition (2026-12-02, 1 thread, 20-30 trees,
    // CPU samples of the partition) the hybrid took 0.70x (seed) and 0.72x
    // (session) of row-wise, for a second copy of the bins (rows x F bytes).
    return HistogramLayout::hybrid;
}

Tensor bins_column_major(Context& ctx, const Tensor& bins) {
    const char* op = "bins_column_major";
    require(bins.defined() && bins.dim() == 2 && bins.dtype() == DType::u8, op,
            [&] { return "expected u8 bins [rows, features], got " + bins.describe(); });
    require_cpu(op, bins);
    Tensor out = Tensor::empty({bins.size(1), bins.size(0)}, DType::u8);
    cpu::bins_column_major(bins.data<uint8_t>(), bins.size(0), bins.size(1), out.data<uint8_t>());
    (void)ctx;
    return out;
}

FeatureBundles bundle_features(const std::vector<int32_t>& num_bins) {
    FeatureBundles out;
    for (const int32_t bins : num_bins) {
        require(bins >= 1 && bins <= 256, "bundle_features", [&] { return "a feature has " + std::to_string(bins) + " bins"; });
        size_t b = 0;
        while (b < out.cells.size() && out.cells[b] * bins > 256) ++b;
        if (b == out.cells.size()) out.cells.push_back(1);
        out.bundle.push_back(static_cast<int32_t>(b));
        out.stride.push_back(out.cells[b]);
        out.cells[b] *= bins;
    }
    return out;
}

Tensor bundle_bins(Context& ctx, const Tensor& bins, const FeatureBundles& bundles) {
    const char* op = "bundle_bins";
    require(bins.defined() && bins.dim() == 2 && bins.dtype() == DType::u8, op,
            [&] { return "expected u8 bins [rows, features], got " + bins.describe(); });
    require_cpu(op, bins);
    const int64_t features = bins.size(1);
    require(static_cast<int64_t>(bundles.bundle.size()) == features && bundles.stride.size() == bundles.bundle.size(), op,
            [&] { return "expected a bundle and a stride for each of " + std::to_string(features) + " features"; });
    const auto count = static_cast<int64_t>(bundles.cells.size());
    for (const int32_t b : bundles.bundle)
        require(b >= 0 && b < count, op, [&] { return "bundle " + std::to_string(b) + " out of range"; });
    Tensor out = Tensor::empty({bins.size(0), count}, DType::u8);
    cpu::bundle_bins(bins.data<uint8_t>(), bins.size(0), features, bundles.bundle.data(), bundles.stride.data(), count,
                     out.data<uint8_t>());
    (void)ctx;
    return out;
}

int64_t histogram_parallel_regions() { return cpu::histogram_parallel_regions(); }

Tensor histogram_empty(const HistogramRows& rows) {
    const int64_t bins = total_bins(rows);
    return quantized(rows) ? Tensor::empty({bins, 2}, DType::i32) : Tensor::empty({bins, kHistogramFloatStats}, DType::f64);
}

Tensor histogram_scratch(const HistogramRows& rows, int64_t max_rows) {
    const cpu::HistogramSource s = source_of("histogram_scratch", rows);
    return Tensor::empty({std::max<int64_t>(1, cpu::histogram_scratch_bytes(s, max_rows))}, DType::u8);
}

int quantized_sum_bits(int64_t rows, int64_t quant_bins) {
    if (!cpu::quantized_sums_fit_64(rows, quant_bins)) return 0;
    switch (cpu::quantized_block_sums(rows, quant_bins)) {
        case cpu::HistogramSums::packed16: return 16;
        case cpu::HistogramSums::packed32: return 32;
        default: return 64;
    }
}

void histogram_build(Context& ctx, const HistogramRows& rows, const Tensor& row_indices, Tensor& histogram,
                     Tensor& scratch) {
    const char* op = "histogram_build";
    const cpu::HistogramSource s = source_of(op, rows);
    check_histogram(op, rows, histogram);
    const bool indexed = row_indices.defined();
    if (indexed) check_rows(op, row_indices, histogram_row_count(rows));
    const int64_t n = indexed ? row_indices.numel() : histogram_row_count(rows);
    if (quantized(rows))
        require(cpu::quantized_sums_fit_64(n, rows.quant_bins), op,
                [&] { return std::to_string(n) + " rows with quant_bins " + std::to_string(rows.quant_bins) + " overflow 64-bit sums"; });
    check_scratch(op, s, scratch, n);
    cpu::histogram_build(s, indexed ? row_indices.data<int32_t>() : nullptr, n, histogram.raw(), scratch.raw());
    (void)ctx;
}

namespace {

// The checks partition_histogram and partition_rows share; returns the row count.
int64_t check_partition(const char* op, const cpu::HistogramSource& s, const HistogramRows& rows, int32_t split_feature,
                        const Tensor& goes_left, const Tensor& leaf_rows, const Tensor& row_scratch) {
    const int64_t split_features = rows.columns.defined() ? rows.columns.size(0) : s.num_features;
    require(split_feature >= 0 && split_feature < split_features, op,
            [&] { return "split feature " + std::to_string(split_feature) + " out of range"; });
    require(goes_left.defined() && goes_left.dtype() == DType::u8 && goes_left.numel() == 256, op,
            [&] { return "expected u8 goes_left [256], got " + goes_left.describe(); });
    require_cpu(op, goes_left);
    check_rows(op, leaf_rows, histogram_row_count(rows));
    const int64_t n = leaf_rows.numel();
    require(row_scratch.defined() && row_scratch.dtype() == DType::i32 && row_scratch.numel() >= n, op,
            [&] { return "expected i32 row_scratch of at least " + std::to_string(n) + ", got " + row_scratch.describe(); });
    require_cpu(op, row_scratch);
    return n;
}

}  // namespace

int64_t partition_histogram(Context& ctx, const HistogramRows& rows, int32_t split_feature, const Tensor& goes_left,
                            bool build_left, Tensor& leaf_rows, Tensor& row_scratch, Tensor& histogram,
                            Tensor& scratch) {
    const char* op = "partition_histogram";
    const cpu::HistogramSource s = source_of(op, rows);
    check_histogram(op, rows, histogram);
    const int64_t n = check_partition(op, s, rows, split_feature, goes_left, leaf_rows, row_scratch);
    if (quantized(rows))
        require(cpu::quantized_sums_fit_64(n, rows.quant_bins), op,
                [&] { return std::to_string(n) + " rows with quant_bins " + std::to_string(rows.quant_bins) + " overflow 64-bit sums"; });
    check_scratch(op, s, scratch, n);
    const int64_t left = cpu::partition_histogram(s, split_feature, goes_left.data<uint8_t>(), build_left,
                                                  leaf_rows.data<int32_t>(), n, row_scratch.data<int32_t>(),
                                                  histogram.raw(), scratch.raw());
    (void)ctx;
    return left;
}

int64_t partition_rows(Context& ctx, const HistogramRows& rows, int32_t split_feature, const Tensor& goes_left,
                       Tensor& leaf_rows, Tensor& row_scratch) {
    const char* op = "partition_rows";
    const cpu::HistogramSource s = source_of(op, rows);
    const int64_t n = check_partition(op, s, rows, split_feature, goes_left, leaf_rows, row_scratch);
    const int64_t left = cpu::partition_rows(s, split_feature, goes_left.data<uint8_t>(), leaf_rows.data<int32_t>(), n,
                                             row_scratch.data<int32_t>());
    (void)ctx;
    return left;
}

void histogram_subtract(Context& ctx, const Tensor& parent, const Tensor& child, Tensor& out) {
    const char* op = "histogram_subtract";
    const bool is_float = parent.dtype() == DType::f64;
    require(parent.dim() == 2 && ((is_float && parent.size(1) == kHistogramFloatStats) ||
                                  (parent.dtype() == DType::i32 && parent.size(1) == 2)),
            op, [&] { return "expected f64 [bins, 4] or i32 [bins, 2] histograms, got " + parent.describe(); });
    require(child.shape() == parent.shape() && child.dtype() == parent.dtype() && out.shape() == parent.shape() &&
                out.dtype() == parent.dtype(),
            op, [&] {
                return "mismatched histograms " + parent.describe() + ", " + child.describe() + ", " + out.describe();
            });
    for (const Tensor* t : std::initializer_list<const Tensor*>{&parent, &child, &out}) require_cpu(op, *t);
    if (is_float)
        cpu::histogram_subtract(parent.data<double>(), child.data<double>(), out.data<double>(), parent.size(0));
    else
        cpu::histogram_subtract(static_cast<const uint64_t*>(parent.raw()), static_cast<const uint64_t*>(child.raw()),
                                static_cast<uint64_t*>(out.raw()), parent.size(0));
    (void)ctx;
}

}  // namespace skipper::ops
