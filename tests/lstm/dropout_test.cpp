// Inverted dropout (engine/lstm_ops.h) on the CPU against a plain double loop:
// the kept share is about 1 - p, kept values are scaled by 1 / (1 - p), the
// mask depends on the seed alone (same for f32 and f64, any thread count), the
// backward pass applies the same mask, and p = 0 is the identity.
#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::random_tensor;

// The reference: a hash-keyed mask written out as plain loops in double.
std::vector<double> reference(const std::vector<double>& x, double p, uint64_t seed) {
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        // counter_uniform(seed, i), spelled out: splitmix64 of (seed, i), top 53 bits.
        uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
        y[i] = u >= p ? x[i] / (1.0 - p) : 0.0;
    }
    return y;
}

template <class T> void check_against_reference(int threads) {
    Context ctx(Device::cpu, threads);
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-15;
    uint64_t seed = 10;
    for (const Shape& shape : {Shape{1}, Shape{7, 5}, Shape{300, 117}, Shape{0, 4}}) {
        for (double p : {0.0, 0.1, 0.5, 0.9}) {
            const Tensor x = random_tensor<T>(shape, seed++, -2.0, 2.0);
            Tensor y = Tensor::empty(shape, dtype_of<T>());
            ops::dropout_forward(ctx, x, p, seed, y);
            const auto want = reference(as_doubles<T>(x), p, seed);
            EXPECT_TRUE(all_close(as_doubles<T>(y), want, tol, tol)) << shape_string(shape) << " p=" << p;
            // Backward: the same mask and scale on the incoming gradient, in place.
            Tensor g = x.clone();
            ops::dropout_backward(ctx, g, p, seed, g);
            EXPECT_TRUE(all_close(as_doubles<T>(g), want, tol, tol)) << shape_string(shape) << " p=" << p;
            ++seed;
        }
    }
}

TEST(Dropout, MatchesPlainLoopF64OneThread) { check_against_reference<double>(1); }
TEST(Dropout, MatchesPlainLoopF32TwoThreads) { check_against_reference<float>(2); }

TEST(Dropout, KeepsAboutOneMinusPAndPreservesTheMean) {
    Context ctx(Device::cpu, 2);
    const int64_t n = 200000;
    const Tensor x = Tensor::from_vector<double>(std::vector<double>(static_cast<size_t>(n), 1.0), {n});
    Tensor y = Tensor::empty({n}, DType::f64);
    ops::dropout_forward(ctx, x, 0.3, 5, y);
    double kept = 0.0, sum = 0.0;
    for (double v : y.to_vector<double>()) {
        kept += v != 0.0;
        sum += v;
    }
    EXPECT_NEAR(kept / n, 0.7, 0.005);
    EXPECT_NEAR(sum / n, 1.0, 0.01);
    // Another seed, another mask.
    Tensor other = Tensor::empty({n}, DType::f64);
    ops::dropout_forward(ctx, x, 0.3, 6, other);
    EXPECT_NE(other.to_vector<double>(), y.to_vector<double>());
}

// A data-parallel rank holds batch rows [offset, offset + count) of every time
// step of a global [T, G, H] tensor, padded to B rows: with the slice, its kept
// elements and their values are the global tensor's, in both passes, and
// padding does not disturb them.
TEST(Dropout, SliceOfAGlobalBatchDrawsTheGlobalMask) {
    Context ctx(Device::cpu, 2);
    const int64_t steps = 3, global = 7, width = 5, padded = 4;
    const double p = 0.4;
    const uint64_t seed = 77;
    const Tensor x = random_tensor<double>({steps * global, width}, 3, -2.0, 2.0);
    const auto all = reference(as_doubles<double>(x), p, seed);  // the whole batch: index i
    const auto xs = as_doubles<double>(x);
    for (const auto& [offset, count] : std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {4, 3}, {2, 2}}) {
        std::vector<double> mine(static_cast<size_t>(steps * padded * width), 9.0);  // padding: any value
        for (int64_t t = 0; t < steps; ++t)
            for (int64_t b = 0; b < count; ++b)
                for (int64_t h = 0; h < width; ++h)
                    mine[static_cast<size_t>((t * padded + b) * width + h)] =
                        xs[static_cast<size_t>((t * global + offset + b) * width + h)];
        const Tensor local = Tensor::from_vector<double>(mine, {steps * padded, width});
        const ops::DropoutSlice slice{padded * width, global * width, offset * width};
        Tensor y = Tensor::empty(local.shape(), DType::f64);
        ops::dropout_forward(ctx, local, p, seed, y, slice);
        Tensor g = local.clone();
        ops::dropout_backward(ctx, g, p, seed, g, slice);
        const auto got = y.to_vector<double>(), got_back = g.to_vector<double>();
        for (int64_t t = 0; t < steps; ++t)
            for (int64_t b = 0; b < count; ++b)
                for (int64_t h = 0; h < width; ++h) {
                    const auto here = static_cast<size_t>((t * padded + b) * width + h);
                    const double want = all[static_cast<size_t>((t * global + offset + b) * width + h)];
                    EXPECT_NEAR(got[here], want, 1e-15) << "t " << t << " row " << offset + b << " h " << h;
                    EXPECT_NEAR(got_back[here], want, 1e-15) << "t " << t << " row " << offset + b << " h " << h;
                }
    }
    // Rows scattered over the global batch: row b of each step at places[b].
    const std::vector<int32_t> places = {5, 1, 3, 0};
    std::vector<double> mine(static_cast<size_t>(steps * padded * width));
    for (int64_t t = 0; t < steps; ++t)
        for (int64_t b = 0; b < padded; ++b)
            for (int64_t h = 0; h < width; ++h)
                mine[static_cast<size_t>((t * padded + b) * width + h)] =
                    xs[static_cast<size_t>((t * global + places[static_cast<size_t>(b)]) * width + h)];
    const Tensor local = Tensor::from_vector<double>(mine, {steps * padded, width});
    const ops::DropoutSlice scattered{padded * width, global * width, 0,
                                      Tensor::from_vector<int32_t>(places, {padded}), width};
    Tensor y_scattered = Tensor::empty(local.shape(), DType::f64);
    ops::dropout_forward(ctx, local, p, seed, y_scattered, scattered);
    const auto got = y_scattered.to_vector<double>();
    for (int64_t t = 0; t < steps; ++t)
        for (int64_t b = 0; b < padded; ++b)
            for (int64_t h = 0; h < width; ++h)
                EXPECT_NEAR(got[static_cast<size_t>((t * padded + b) * width + h)],
                            all[static_cast<size_t>((t * global + places[static_cast<size_t>(b)]) * width + h)], 1e-15)
                    << "t " << t << " place " << places[static_cast<size_t>(b)] << " h " << h;
    // Rows that do not cover a step's elements are refused.
    EXPECT_THROW(ops::dropout_forward(ctx, local, p, seed, y_scattered,
                                      {padded * width, global * width, 0, Tensor::from_vector<int32_t>({5, 1, 3}, {3}), width}),
                 Error);
    // A slice that does not tile the tensor is refused.
    Tensor y = Tensor::empty(x.shape(), DType::f64);
    EXPECT_THROW(ops::dropout_forward(ctx, x, p, seed, y, {4, 8, 0}), Error);
    EXPECT_THROW(ops::dropout_forward(ctx, x, p, seed, y, {width, width - 1, 0}), Error);
}

TEST(Dropout, RefusesBadProbabilityAndShapes) {
    Context ctx(Device::cpu, 1);
    const Tensor x = random_tensor<float>({4, 3}, 1);
    Tensor y = Tensor::empty({4, 3}, DType::f32);
    EXPECT_THROW(ops::dropout_forward(ctx, x, 1.0, 1, y), Error);
    EXPECT_THROW(ops::dropout_forward(ctx, x, -0.1, 1, y), Error);
    Tensor wrong = Tensor::empty({3, 4}, DType::f32);
    EXPECT_THROW(ops::dropout_backward(ctx, x, 0.5, 1, wrong), Error);
}

}  // namespace
}  // namespace skipper
