// The histogram op against a plain loop written here, on odd sizes, with and
// without a row subset; bit-identical for 1 and 2 threads; subtraction.
#include <gtest/gtest.h>

#include <random>

#include "engine/context.h"
#include "engine/error.h"
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
    Tensor bins, offsets, gradients, hessians, rows;
    int64_t total_bins = 0;
};

Inputs make_inputs(const HistogramCase& c, uint64_t seed) {
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
    in.bins = Tensor::from_vector<uint8_t>(bins, {c.rows, features});
    in.offsets = Tensor::from_vector<int32_t>(offsets, {features + 1});
    in.gradients = Tensor::from_vector<float>(g, {c.rows});
    in.hessians = Tensor::from_vector<float>(h, {c.rows});
    in.total_bins = offsets.back();
    if (c.subset) {
        std::vector<int32_t> rows;
        for (int64_t r = 0; r < c.rows; ++r)
            if (rng() % 3 != 0) rows.push_back(static_cast<int32_t>(r));
        in.rows = Tensor::from_vector<int32_t>(rows, {static_cast<int64_t>(rows.size())});
    }
    return in;
}

std::vector<double> reference_histogram(const Inputs& in) {
    const auto bins = in.bins.to_vector<uint8_t>();
    const auto offsets = in.offsets.to_vector<int32_t>();
    const auto g = in.gradients.to_vector<float>(), h = in.hessians.to_vector<float>();
    const int64_t features = in.bins.size(1);
    std::vector<int32_t> rows;
    if (in.rows.defined()) rows = in.rows.to_vector<int32_t>();
    else
        for (int64_t r = 0; r < in.bins.size(0); ++r) rows.push_back(static_cast<int32_t>(r));
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

std::vector<double> build(const Inputs& in, int threads) {
    Context ctx(Device::cpu, threads);
    Tensor hist = Tensor::empty({in.total_bins, 4}, DType::f64);
    ops::histogram_build(ctx, in.bins, in.offsets, in.gradients, in.hessians, in.rows, hist);
    return hist.to_vector<double>();
}

const HistogramCase kCases[] = {
    {1, {2}, false},          {7, {3, 1, 5}, true},           {1000, {255, 2, 17}, false},
    {40001, {256, 7, 33, 2}, true}, {300000, {64, 256, 5}, false}, {0, {4, 4}, false},
};

TEST(HistogramBuild, MatchesPlainLoop) {
    uint64_t seed = 1;
    for (const auto& c : kCases) {
        const Inputs in = make_inputs(c, seed++);
        const auto want = reference_histogram(in);
        EXPECT_TRUE(test::all_close(build(in, 2), want, 1e-9, 1e-9)) << "rows=" << c.rows << " subset=" << c.subset;
    }
}

TEST(HistogramBuild, BitIdenticalForOneAndTwoThreads) {
    uint64_t seed = 100;
    for (const auto& c : kCases) {
        const Inputs in = make_inputs(c, seed++);
        EXPECT_EQ(build(in, 1), build(in, 2)) << "rows=" << c.rows;
    }
}

TEST(HistogramSubtract, ParentMinusChildIsTheOtherChild) {
    const Inputs all = make_inputs({5000, {9, 40}, false}, 7);
    std::vector<int32_t> left, right;
    for (int32_t r = 0; r < 5000; ++r) (r % 4 == 0 ? left : right).push_back(r);
    Inputs left_in = all, right_in = all;
    left_in.rows = Tensor::from_vector<int32_t>(left, {static_cast<int64_t>(left.size())});
    right_in.rows = Tensor::from_vector<int32_t>(right, {static_cast<int64_t>(right.size())});
    Context ctx(Device::cpu, 2);
    Tensor parent = Tensor::from_vector<double>(build(all, 2), {all.total_bins, 4});
    Tensor child = Tensor::from_vector<double>(build(left_in, 2), {all.total_bins, 4});
    ops::histogram_subtract(ctx, parent, child, parent);  // in place, as the tree learner does
    EXPECT_TRUE(test::all_close(parent.to_vector<double>(), reference_histogram(right_in), 1e-9, 1e-9));
}

TEST(HistogramBuild, RejectsMismatchedTensors) {
    const Inputs in = make_inputs({10, {4, 4}, false}, 3);
    Context ctx(Device::cpu, 1);
    Tensor wrong = Tensor::empty({in.total_bins + 1, 4}, DType::f64);
    EXPECT_THROW(ops::histogram_build(ctx, in.bins, in.offsets, in.gradients, in.hessians, in.rows, wrong), Error);
    Tensor hist = Tensor::empty({in.total_bins, 4}, DType::f64);
    Tensor short_gradients = Tensor::empty({9}, DType::f32);
    EXPECT_THROW(ops::histogram_build(ctx, in.bins, in.offsets, short_gradients, in.hessians, in.rows, hist), Error);
}

}  // namespace
}  // namespace skipper
