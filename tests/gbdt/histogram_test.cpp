// The histogram ops against plain loops written here, on odd sizes, with and
// without a row subset: float sums bit-identical for 1, 2 and 3 threads;
// quantized sums exact for any thread count and block size; the fused
// partition; subtraction; the choice between 16-, 32- and 64-bit sums; the
// column-wise layout (the same bits as row-wise); one-block leaves on the
// calling thread.
#include <gtest/gtest.h>

#include <random>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/gbdt_ops.h"
#include "engine/histogram_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

struct HistogramCase {
    int64_t rows;
    std::vector<int32_t> bins_per_feature;
    bool subset;
};

struct Inputs {
    ops::HistogramRows rows;
    Tensor leaf;  // the row subset, or undefined
    int64_t total_bins = 0;
};

// Random bins, gradients in [-1, 1], hessians in [0, 0.5]; quantized pairs
// from ops::quantize_gradients when quant_bins > 0.
Inputs make_inputs(const HistogramCase& c, uint64_t seed, int64_t quant_bins = 0) {
    std::mt19937_64 rng(seed);
    const auto features = static_cast<int64_t>(c.bins_per_feature.size());
    std::vector<uint8_t> bins(static_cast<size_t>(c.rows * features));
    for (int64_t r = 0; r < c.rows; ++r)
        for (int64_t f = 0; f < features; ++f)
            bins[static_cast<size_t>(r * features + f)] =
                static_cast<uint8_t>(rng() % static_cast<uint64_t>(c.bins_per_feature[static_cast<size_t>(f)]));
    std::vector<int32_t> offsets{0};
    for (int32_t b : c.bins_per_feature) offsets.push_back(offsets.back() + b);
    std::vector<float> g(static_cast<size_t>(c.rows)), h(static_cast<size_t>(c.rows));
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int64_t r = 0; r < c.rows; ++r) {
        g[static_cast<size_t>(r)] = u(rng);
        h[static_cast<size_t>(r)] = 0.25f * (1.0f + u(rng));
    }
    Inputs in;
    in.rows.bins = Tensor::from_vector<uint8_t>(bins, {c.rows, features});
    in.rows.feature_offsets = Tensor::from_vector<int32_t>(offsets, {features + 1});
    in.rows.gradients = Tensor::from_vector<float>(g, {c.rows});
    in.rows.hessians = Tensor::from_vector<float>(h, {c.rows});
    in.total_bins = offsets.back();
    if (quant_bins > 0) {
        Context ctx(Device::cpu, 1);
        in.rows.quant_bins = quant_bins;
        in.rows.quantized = Tensor::empty({c.rows}, DType::i32);
        const auto scale = ops::quant_scale(ops::gradient_extent(ctx, in.rows.gradients, in.rows.hessians), quant_bins);
        ops::quantize_gradients(ctx, in.rows.gradients, in.rows.hessians, {}, seed, true, scale, quant_bins,
                                in.rows.quantized);
    }
    if (c.subset) {
        std::vector<int32_t> rows;
        for (int64_t r = 0; r < c.rows; ++r)
            if (rng() % 3 != 0) rows.push_back(static_cast<int32_t>(r));
        in.leaf = Tensor::from_vector<int32_t>(rows, {static_cast<int64_t>(rows.size())});
    }
    return in;
}

std::vector<int32_t> rows_of(const Inputs& in) {
    if (in.leaf.defined()) return in.leaf.to_vector<int32_t>();
    std::vector<int32_t> rows;
    for (int64_t r = 0; r < in.rows.bins.size(0); ++r) rows.push_back(static_cast<int32_t>(r));
    return rows;
}

// Float reference: (gradient, hessian, count, 0) per bin, in double.
std::vector<double> reference_float(const Inputs& in, const std::vector<int32_t>& rows) {
    const auto bins = in.rows.bins.to_vector<uint8_t>();
    const auto offsets = in.rows.feature_offsets.to_vector<int32_t>();
    const auto g = in.rows.gradients.to_vector<float>(), h = in.rows.hessians.to_vector<float>();
    const int64_t features = in.rows.bins.size(1);
    std::vector<double> out(static_cast<size_t>(in.total_bins * 4), 0.0);
    for (int32_t r : rows)
        for (int64_t f = 0; f < features; ++f) {
            const size_t slot = static_cast<size_t>(offsets[static_cast<size_t>(f)] + bins[static_cast<size_t>(r * features + f)]);
            out[4 * slot] += g[static_cast<size_t>(r)];
            out[4 * slot + 1] += h[static_cast<size_t>(r)];
            out[4 * slot + 2] += 1.0;
        }
    return out;
}

// Quantized reference: (G, H) per bin in plain int64, decoded from the pairs.
std::vector<int64_t> reference_quantized(const Inputs& in, const std::vector<int32_t>& rows) {
    const auto bins = in.rows.bins.to_vector<uint8_t>();
    const auto offsets = in.rows.feature_offsets.to_vector<int32_t>();
    const auto q = in.rows.quantized.to_vector<int32_t>();
    const int64_t features = in.rows.bins.size(1);
    std::vector<int64_t> out(static_cast<size_t>(in.total_bins * 2), 0);
    for (int32_t r : rows) {
        const int32_t packed = q[static_cast<size_t>(r)];
        const int64_t hessian = packed & 0xffff, gradient = (packed - hessian) / 65536;
        for (int64_t f = 0; f < features; ++f) {
            const size_t slot = static_cast<size_t>(offsets[static_cast<size_t>(f)] + bins[static_cast<size_t>(r * features + f)]);
            out[2 * slot] += gradient;
            out[2 * slot + 1] += hessian;
        }
    }
    return out;
}

std::vector<int64_t> decoded(const Tensor& histogram) {
    std::vector<int64_t> out;
    const auto* h = static_cast<const uint64_t*>(histogram.raw());
    for (int64_t b = 0; b < histogram.size(0); ++b) {
        out.push_back(ops::quantized_gradient_sum(h[b]));
        out.push_back(ops::quantized_hessian_sum(h[b]));
    }
    return out;
}

Tensor build(const Inputs& in, int threads) {
    Context ctx(Device::cpu, threads);
    Tensor hist = ops::histogram_empty(in.rows);
    Tensor scratch = ops::histogram_scratch(in.rows, ops::histogram_row_count(in.rows));
    ops::histogram_build(ctx, in.rows, in.leaf, hist, scratch);
    return hist;
}

const HistogramCase kCases[] = {
    {1, {2}, false},          {7, {3, 1, 5}, true},           {1000, {255, 2, 17}, false},
    {40001, {256, 7, 33, 2}, true}, {300000, {64, 256, 5}, false}, {0, {4, 4}, false},
};

TEST(HistogramBuild, FloatMatchesPlainLoop) {
    uint64_t seed = 1;
    for (const auto& c : kCases) {
        const Inputs in = make_inputs(c, seed++);
        EXPECT_TRUE(test::all_close(build(in, 2).to_vector<double>(), reference_float(in, rows_of(in)), 1e-9, 1e-9))
            << "rows=" << c.rows << " subset=" << c.subset;
    }
}

TEST(HistogramBuild, FloatBitIdenticalForOneTwoAndThreeThreads) {
    uint64_t seed = 100;
    for (const auto& c : kCases) {
        const Inputs in = make_inputs(c, seed++);
        const auto one = build(in, 1).to_vector<double>();
        EXPECT_EQ(one, build(in, 2).to_vector<double>()) << "rows=" << c.rows;
        EXPECT_EQ(one, build(in, 3).to_vector<double>()) << "rows=" << c.rows;
    }
}

TEST(HistogramBuild, QuantizedIsExactForAnyThreadsAndBlockSize) {
    uint64_t seed = 200;
    for (const auto& c : kCases)
        for (const int64_t quant_bins : {4, 16, 255}) {
            Inputs in = make_inputs(c, seed++, quant_bins);
            const auto want = reference_quantized(in, rows_of(in));
            for (const int64_t block_rows : {1, 7, 8192, 1 << 20})
                for (const int threads : {1, 2, 3}) {
                    in.rows.block_rows = block_rows;
                    EXPECT_EQ(decoded(build(in, threads)), want)
                        << "rows=" << c.rows << " bins=" << quant_bins << " block=" << block_rows << " threads=" << threads;
                }
        }
}

TEST(QuantizedSums, WidthFollowsTheRowBound) {
    // 4 levels: |g| <= 2 and h <= 4 per row, so 8-bit fields hold 63 rows
    // (4 * 63 = 252 <= 255, 2 * 63 = 126 <= 127) and 16-bit fields 16383.
    EXPECT_EQ(ops::quantized_sum_bits(1, 4), 16);
    EXPECT_EQ(ops::quantized_sum_bits(63, 4), 16);
    EXPECT_EQ(ops::quantized_sum_bits(64, 4), 32);
    EXPECT_EQ(ops::quantized_sum_bits(16383, 4), 32);
    EXPECT_EQ(ops::quantized_sum_bits(16384, 4), 64);
    EXPECT_EQ(ops::quantized_sum_bits(1073741823, 4), 64);  // 4 * rows <= 2^32 - 1
    EXPECT_EQ(ops::quantized_sum_bits(1073741824, 4), 0);
    // Odd levels round |g| up: 5 levels allow |g| <= 3 (32767 / 3 = 10922 rows), h <= 5.
    EXPECT_EQ(ops::quantized_sum_bits(10922, 5), 32);
    EXPECT_EQ(ops::quantized_sum_bits(10923, 5), 64);
    // 2 levels: |g| <= 1, h <= 2: 127 rows fit 8-bit fields, 128 do not.
    EXPECT_EQ(ops::quantized_sum_bits(127, 2), 16);
    EXPECT_EQ(ops::quantized_sum_bits(128, 2), 32);
    // The most levels: |g| <= 8192, so 3 rows fit 16 bits and 4 do not, and
    // not even one row fits 8 bits.
    EXPECT_EQ(ops::quantized_sum_bits(1, ops::kMaxQuantBins), 32);
    EXPECT_EQ(ops::quantized_sum_bits(3, ops::kMaxQuantBins), 32);
    EXPECT_EQ(ops::quantized_sum_bits(4, ops::kMaxQuantBins), 64);
}

// Every row at the largest quantized pair, all in one bin: the sums leave 16
// bits after a few rows, so the 64-bit path must take them.
TEST(QuantizedSums, ABlockPastSixteenBitsGetsSixtyFourBitSums) {
    const int64_t quant_bins = ops::kMaxQuantBins, limit_g = quant_bins / 2;
    for (const int64_t rows : {3, 4, 40, 1000})
        for (const int64_t sign : {1, -1}) {
            Inputs in;
            in.rows.bins = Tensor::zeros({rows, 2}, DType::u8);
            in.rows.feature_offsets = Tensor::from_vector<int32_t>({0, 1, 3}, {3});
            in.total_bins = 3;
            in.rows.quant_bins = quant_bins;
            std::vector<int32_t> q(static_cast<size_t>(rows),
                                   static_cast<int32_t>(sign * limit_g * 65536 + quant_bins));
            in.rows.quantized = Tensor::from_vector<int32_t>(q, {rows});
            for (const int64_t block_rows : {int64_t{1}, rows}) {
                in.rows.block_rows = block_rows;
                const auto got = decoded(build(in, 2));
                EXPECT_EQ(got[0], sign * rows * limit_g) << rows;
                EXPECT_EQ(got[1], rows * quant_bins) << rows;
                EXPECT_EQ(got[2], sign * rows * limit_g) << rows;
                EXPECT_EQ(got[4], 0) << rows;
            }
            EXPECT_EQ(ops::quantized_sum_bits(rows, quant_bins), rows <= 3 ? 32 : 64);
        }
}

// Every row at the largest pair of 4 levels (g = +-2, h = 4), in one bin: 63
// rows sit at the top of the 8-bit fields, 64 rows must take 16-bit ones.
TEST(QuantizedSums, SixteenBitBlocksHoldTheirBoundExactly) {
    const int64_t quant_bins = 4;
    for (const int64_t rows : {1, 62, 63, 64, 65, 200})
        for (const int64_t sign : {1, -1}) {
            Inputs in;
            in.rows.bins = Tensor::zeros({rows, 2}, DType::u8);
            in.rows.feature_offsets = Tensor::from_vector<int32_t>({0, 1, 3}, {3});
            in.total_bins = 3;
            in.rows.quant_bins = quant_bins;
            std::vector<int32_t> q(static_cast<size_t>(rows), static_cast<int32_t>(sign * 2 * 65536 + quant_bins));
            in.rows.quantized = Tensor::from_vector<int32_t>(q, {rows});
            // One block of every row, blocks of 63 (8-bit) and of 1.
            for (const int64_t block_rows : {rows, int64_t{63}, int64_t{1}}) {
                in.rows.block_rows = block_rows;
                const auto got = decoded(build(in, 2));
                EXPECT_EQ(got[0], sign * rows * 2) << rows << " block " << block_rows;
                EXPECT_EQ(got[1], rows * quant_bins) << rows << " block " << block_rows;
                EXPECT_EQ(got[2], sign * rows * 2) << rows;
                EXPECT_EQ(got[4], 0) << rows;
            }
        }
}

Inputs column_wise(const Inputs& in) {
    Context ctx(Device::cpu, 2);
    Inputs out = in;
    out.rows.columns = ops::bins_column_major(ctx, in.rows.bins);
    out.rows.bins = Tensor();
    return out;
}

TEST(BinsColumnMajor, IsThePlainTranspose) {
    for (const auto& c : kCases) {
        const Inputs in = make_inputs(c, 7);
        const Inputs cols = column_wise(in);
        const auto features = static_cast<int64_t>(c.bins_per_feature.size());
        const auto rows = in.rows.bins.to_vector<uint8_t>(), columns = cols.rows.columns.to_vector<uint8_t>();
        ASSERT_EQ(cols.rows.columns.shape(), (std::vector<int64_t>{features, c.rows}));
        for (int64_t r = 0; r < c.rows; ++r)
            for (int64_t f = 0; f < features; ++f)
                ASSERT_EQ(columns[static_cast<size_t>(f * c.rows + r)], rows[static_cast<size_t>(r * features + f)]);
    }
}

// Both layouts give every bin its rows in row order: float sums are the same
// bits, quantized ones the same integers.
TEST(HistogramBuild, ColumnWiseIsBitIdenticalToRowWise) {
    uint64_t seed = 500;
    for (const auto& c : kCases)
        for (const int64_t quant_bins : {0, 4}) {
            const Inputs in = make_inputs(c, seed++, quant_bins);
            const Inputs cols = column_wise(in);
            for (const int threads : {1, 3}) {
                const Tensor want = build(in, threads), got = build(cols, threads);
                if (quant_bins > 0) {
                    EXPECT_EQ(decoded(got), decoded(want)) << "rows=" << c.rows;
                    EXPECT_EQ(decoded(got), reference_quantized(in, rows_of(in))) << "rows=" << c.rows;
                } else {
                    EXPECT_EQ(got.to_vector<double>(), want.to_vector<double>()) << "rows=" << c.rows;
                }
            }
        }
}

// Bins, columns or both (the hybrid layout); never neither, and both must
// hold the same rows (next to bins, columns may hold other features: the
// split features, when bins hold their bundles).
TEST(HistogramRows, BinsColumnsOrBoth) {
    const Inputs in = make_inputs(kCases[2], 9);
    Inputs both = column_wise(in);
    both.rows.bins = in.rows.bins;
    Context ctx(Device::cpu, 1);
    Tensor hist = ops::histogram_empty(in.rows);
    Tensor scratch = ops::histogram_scratch(in.rows, in.rows.bins.size(0));
    ops::histogram_build(ctx, both.rows, Tensor(), hist, scratch);
    Tensor from_rows = ops::histogram_empty(in.rows);
    ops::histogram_build(ctx, in.rows, Tensor(), from_rows, scratch);
    EXPECT_EQ(hist.to_vector<double>(), from_rows.to_vector<double>());
    Inputs short_columns = both;
    short_columns.rows.columns = Tensor::zeros({3, in.rows.bins.size(0) - 1}, DType::u8);
    EXPECT_THROW(ops::histogram_build(ctx, short_columns.rows, Tensor(), hist, scratch), Error);
    // A split feature indexes the columns.
    Inputs one_column = both;
    one_column.rows.columns = both.rows.columns.slice_rows(0, 1);
    const auto n = in.rows.bins.size(0);
    Tensor leaf = Tensor::from_vector<int32_t>(std::vector<int32_t>{0, 1}, {2});
    Tensor row_scratch = Tensor::empty({n}, DType::i32);
    const Tensor goes_left = Tensor::zeros({256}, DType::u8);
    EXPECT_EQ(ops::partition_rows(ctx, one_column.rows, 0, goes_left, leaf, row_scratch), 0);
    EXPECT_THROW(ops::partition_rows(ctx, one_column.rows, 1, goes_left, leaf, row_scratch), Error);
    Inputs neither = in;
    neither.rows.bins = Tensor();
    EXPECT_THROW(ops::histogram_build(ctx, neither.rows, Tensor(), hist, scratch), Error);
}

// A leaf of one block runs on the calling thread: no parallel region opens.
TEST(HistogramBuild, OneBlockLeavesOpenNoParallelRegion) {
    for (const int64_t quant_bins : {0, 4}) {
        Inputs in = make_inputs({20000, {255, 7, 33}, false}, 11, quant_bins);
        in.rows.block_rows = 8192;
        Context ctx(Device::cpu, 2);
        Tensor hist = ops::histogram_empty(in.rows);
        Tensor scratch = ops::histogram_scratch(in.rows, in.rows.bins.size(0));
        std::vector<int32_t> small(8192), large(8193);
        for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<int32_t>(2 * i);
        std::copy_n(large.begin(), small.size(), small.begin());
        std::vector<uint8_t> goes_left(256, 0);
        for (int b = 0; b < 128; ++b) goes_left[static_cast<size_t>(b)] = 1;
        const Tensor mask = Tensor::from_vector<uint8_t>(goes_left, {256});
        Tensor row_scratch = Tensor::empty({8193}, DType::i32);

        const int64_t before = ops::histogram_parallel_regions();
        ops::histogram_build(ctx, in.rows, Tensor::from_vector<int32_t>(small, {8192}), hist, scratch);
        Tensor leaf = Tensor::from_vector<int32_t>(small, {8192});
        ops::partition_histogram(ctx, in.rows, 0, mask, true, leaf, row_scratch, hist, scratch);
        EXPECT_EQ(ops::histogram_parallel_regions(), before) << "quant_bins=" << quant_bins;

        ops::histogram_build(ctx, in.rows, Tensor::from_vector<int32_t>(large, {8193}), hist, scratch);
        EXPECT_GT(ops::histogram_parallel_regions(), before) << "a two-block leaf runs in parallel";
    }
}

TEST(PartitionHistogram, StablePartitionAndTheBuiltSidesHistogram) {
    uint64_t seed = 300;
    for (const auto& c : kCases) {
        if (c.rows == 0) continue;
        for (const int64_t quant_bins : {0, 4})
            for (const bool build_left : {false, true}) {
                Inputs in = make_inputs(c, seed++, quant_bins);
                const std::vector<int32_t> rows = rows_of(in);
                const int32_t feature = static_cast<int32_t>(c.bins_per_feature.size()) - 1;
                std::vector<uint8_t> goes_left(256, 0);
                for (int b = 0; b < 256; b += 3) goes_left[static_cast<size_t>(b)] = 1;
                const auto bins = in.rows.bins.to_vector<uint8_t>();
                const auto features = static_cast<int64_t>(c.bins_per_feature.size());
                std::vector<int32_t> left, right;
                for (int32_t r : rows)
                    (goes_left[bins[static_cast<size_t>(r * features + feature)]] ? left : right).push_back(r);
                std::vector<int32_t> want_rows = left;
                want_rows.insert(want_rows.end(), right.begin(), right.end());
                const std::vector<int32_t>& built = build_left ? left : right;

                std::vector<std::vector<int32_t>> got_rows;
                std::vector<Tensor> got_hist;
                const Inputs cols = column_wise(in);
                // Both layouts: histograms from the rows, the split from the column.
                Inputs hybrid = in;
                hybrid.rows.columns = cols.rows.columns;
                for (const int threads : {1, 2, 3, -3, -2}) {
                    // -3: three threads on the column-wise layout; -2: two on both.
                    Context ctx(Device::cpu, std::abs(threads));
                    const ops::HistogramRows& source = threads > 0 ? in.rows : threads == -3 ? cols.rows : hybrid.rows;
                    Tensor leaf = Tensor::from_vector<int32_t>(rows, {static_cast<int64_t>(rows.size())});
                    Tensor row_scratch = Tensor::empty({static_cast<int64_t>(rows.size())}, DType::i32);
                    Tensor hist = ops::histogram_empty(in.rows);
                    Tensor scratch = ops::histogram_scratch(in.rows, static_cast<int64_t>(rows.size()));
                    const int64_t n_left = ops::partition_histogram(ctx, source, feature,
                                                                    Tensor::from_vector<uint8_t>(goes_left, {256}),
                                                                    build_left, leaf, row_scratch, hist, scratch);
                    EXPECT_EQ(n_left, static_cast<int64_t>(left.size()));
                    got_rows.push_back(leaf.to_vector<int32_t>());
                    got_hist.push_back(hist);
                }
                // The partition alone gives the same rows, from any layout.
                const std::vector<const ops::HistogramRows*> layouts = {&in.rows, &cols.rows, &hybrid.rows};
                for (const ops::HistogramRows* source : layouts) {
                    Context ctx(Device::cpu, 2);
                    Tensor leaf = Tensor::from_vector<int32_t>(rows, {static_cast<int64_t>(rows.size())});
                    Tensor row_scratch = Tensor::empty({static_cast<int64_t>(rows.size())}, DType::i32);
                    EXPECT_EQ(ops::partition_rows(ctx, *source, feature, Tensor::from_vector<uint8_t>(goes_left, {256}),
                                                  leaf, row_scratch),
                              static_cast<int64_t>(left.size()));
                    EXPECT_EQ(leaf.to_vector<int32_t>(), want_rows) << "partition_rows, rows=" << c.rows;
                }
                EXPECT_EQ(got_rows[0], want_rows) << "rows=" << c.rows;
                EXPECT_EQ(got_rows[1], want_rows);
                EXPECT_EQ(got_rows[2], want_rows);
                EXPECT_EQ(got_rows[3], want_rows);
                EXPECT_EQ(got_rows[4], want_rows);
                if (quant_bins > 0) {
                    for (const Tensor& h : got_hist) EXPECT_EQ(decoded(h), reference_quantized(in, built));
                } else {
                    EXPECT_TRUE(test::all_close(got_hist[0].to_vector<double>(), reference_float(in, built), 1e-9, 1e-9));
                    EXPECT_EQ(got_hist[0].to_vector<double>(), got_hist[1].to_vector<double>());
                    EXPECT_EQ(got_hist[0].to_vector<double>(), got_hist[2].to_vector<double>());
                    EXPECT_EQ(got_hist[0].to_vector<double>(), got_hist[3].to_vector<double>());
                    EXPECT_EQ(got_hist[0].to_vector<double>(), got_hist[4].to_vector<double>());
                }
            }
    }
}

TEST(FeatureBundles, GreedyFirstFitUpTo256Cells) {
    const ops::FeatureBundles b = ops::bundle_features({3, 3, 256, 3, 3, 4, 5, 7, 2, 200});
    // 3*3*3*3 = 81, *4 = 324 > 256: the 4 bins open bundle 2 (4*5*7 = 140),
    // the 2 bins join bundle 0 (162), 200 bins open bundle 3.
    EXPECT_EQ(b.bundle, (std::vector<int32_t>{0, 0, 1, 0, 0, 2, 2, 2, 0, 3}));
    EXPECT_EQ(b.stride, (std::vector<int32_t>{1, 3, 1, 9, 27, 1, 4, 20, 81, 1}));
    EXPECT_EQ(b.cells, (std::vector<int32_t>{162, 256, 140, 200}));
    EXPECT_THROW(ops::bundle_features({3, 257}), Error);
}

TEST(FeatureBundles, CodesAreTheMixedRadixSum) {
    std::mt19937_64 rng(31);
    const std::vector<int32_t> num_bins = {3, 256, 2, 5, 3, 17};
    const int64_t rows = 1001, features = static_cast<int64_t>(num_bins.size());
    std::vector<uint8_t> bins(static_cast<size_t>(rows * features));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t f = 0; f < features; ++f)
            bins[static_cast<size_t>(r * features + f)] = static_cast<uint8_t>(rng() % static_cast<uint64_t>(num_bins[static_cast<size_t>(f)]));
    const ops::FeatureBundles b = ops::bundle_features(num_bins);
    const auto bundles = static_cast<int64_t>(b.cells.size());
    for (const int threads : {1, 3}) {
        Context ctx(Device::cpu, threads);
        const auto got = ops::bundle_bins(ctx, Tensor::from_vector<uint8_t>(bins, {rows, features}), b).to_vector<uint8_t>();
        ASSERT_EQ(static_cast<int64_t>(got.size()), rows * bundles);
        for (int64_t r = 0; r < rows; ++r) {
            std::vector<int64_t> want(static_cast<size_t>(bundles), 0);
            for (int64_t f = 0; f < features; ++f) {
                const auto fi = static_cast<size_t>(f);
                want[static_cast<size_t>(b.bundle[fi])] += bins[static_cast<size_t>(r * features + f)] * b.stride[fi];
            }
            for (int64_t k = 0; k < bundles; ++k)
                ASSERT_EQ(got[static_cast<size_t>(r * bundles + k)], want[static_cast<size_t>(k)]) << "row " << r;
        }
    }
}

TEST(HistogramSubtract, ParentMinusChildIsTheOtherChild) {
    for (const int64_t quant_bins : {0, 4}) {
        const Inputs all = make_inputs({5000, {9, 40}, false}, 7, quant_bins);
        std::vector<int32_t> left, right;
        for (int32_t r = 0; r < 5000; ++r) (r % 4 == 0 ? left : right).push_back(r);
        Inputs left_in = all;
        left_in.leaf = Tensor::from_vector<int32_t>(left, {static_cast<int64_t>(left.size())});
        Context ctx(Device::cpu, 2);
        Tensor parent = build(all, 2);
        const Tensor child = build(left_in, 2);
        ops::histogram_subtract(ctx, parent, child, parent);  // in place, as the tree learner does
        if (quant_bins > 0)
            EXPECT_EQ(decoded(parent), reference_quantized(all, right));
        else
            EXPECT_TRUE(test::all_close(parent.to_vector<double>(), reference_float(all, right), 1e-9, 1e-9));
    }
}

TEST(HistogramBuild, RejectsMismatchedTensors) {
    Inputs in = make_inputs({10, {4, 4}, false}, 3);
    Context ctx(Device::cpu, 1);
    Tensor scratch = ops::histogram_scratch(in.rows, 10);
    Tensor wrong = Tensor::empty({in.total_bins + 1, 4}, DType::f64);
    EXPECT_THROW(ops::histogram_build(ctx, in.rows, in.leaf, wrong, scratch), Error);
    Tensor hist = ops::histogram_empty(in.rows);
    Inputs short_gradients = in;
    short_gradients.rows.gradients = Tensor::empty({9}, DType::f32);
    EXPECT_THROW(ops::histogram_build(ctx, short_gradients.rows, in.leaf, hist, scratch), Error);
    Tensor tiny_scratch = Tensor::empty({1}, DType::u8);
    in.rows.block_rows = 1;  // ten blocks need ten histograms of scratch
    EXPECT_THROW(ops::histogram_build(ctx, in.rows, in.leaf, hist, tiny_scratch), Error);
    in.rows.quant_bins = 4;  // quantized mode without quantized pairs
    EXPECT_THROW(ops::histogram_build(ctx, in.rows, in.leaf, hist, scratch), Error);
}

}  // namespace
}  // namespace skipper
