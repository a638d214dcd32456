// The masked binary cross-entropy on logits against a double loop, its
// gradient against finite differences, and its behaviour at extreme logits.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::random_tensor;

template <class T> Tensor binary(int64_t n, uint64_t seed, double p_one) {
    const auto u = test::random_values(static_cast<size_t>(n), seed, 0, 1);
    std::vector<T> v(u.size());
    for (size_t i = 0; i < u.size(); ++i) v[i] = u[i] < p_one ? T(1) : T(0);
    return Tensor::from_vector<T>(v, {n});
}

double reference_loss(const std::vector<double>& z, const std::vector<double>& y, const std::vector<double>& w) {
    double total = 0.0, weight = 0.0;
    for (size_t i = 0; i < z.size(); ++i) {
        const double p = 1.0 / (1.0 + std::exp(-z[i]));
        total += w[i] * -(y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p));
        weight += w[i];
    }
    return weight == 0 ? 0 : total / weight;
}

template <class T> void check_against_reference(double rtol) {
    Context ctx(Device::cpu, 2);
    for (const int64_t n : {1, 7, 4096, 4097, 70001}) {
        Tensor z = random_tensor<T>({n}, 1 + n, -6, 6);
        Tensor y = binary<T>(n, 2 + n, 0.5);
        Tensor w = binary<T>(n, 3 + n, 0.7);
        const auto zv = as_doubles<T>(z), yv = as_doubles<T>(y), wv = as_doubles<T>(w);
        EXPECT_NEAR(ops::bce_with_logits_forward(ctx, z, y, w), reference_loss(zv, yv, wv), rtol) << "n=" << n;
        double weight = 0.0;
        for (double x : wv) weight += x;
        std::vector<double> want(zv.size());
        for (size_t i = 0; i < zv.size(); ++i)
            want[i] = weight == 0 ? 0 : wv[i] * (1.0 / (1.0 + std::exp(-zv[i])) - yv[i]) / weight;
        Tensor dz = Tensor::zeros({n}, dtype_of<T>());
        ops::bce_with_logits_backward(ctx, z, y, w, dz);
        EXPECT_TRUE(all_close(as_doubles<T>(dz), want, rtol, rtol * 1e-3)) << "n=" << n;
    }
}

TEST(BceWithLogitsCpu, MatchesReferenceF32) { check_against_reference<float>(1e-6); }
TEST(BceWithLogitsCpu, MatchesReferenceF64) { check_against_reference<double>(1e-12); }

TEST(BceWithLogitsCpu, GradientMatchesFiniteDifferences) {
    Context ctx(Device::cpu, 1);
    const int64_t n = 9;
    Tensor z = random_tensor<double>({n}, 5, -3, 3);
    Tensor y = binary<double>(n, 6, 0.5);
    Tensor w = Tensor::from_vector<double>({1, 0, 2, 1, 1, 0.5, 0, 1, 3}, {n});
    Tensor dz = Tensor::zeros({n}, DType::f64);
    ops::bce_with_logits_backward(ctx, z, y, w, dz);
    std::vector<double> numeric(static_cast<size_t>(n));
    const double eps = 1e-6;
    for (int64_t i = 0; i < n; ++i) {
        Tensor up = z.clone(), down = z.clone();
        up.data<double>()[i] += eps;
        down.data<double>()[i] -= eps;
        numeric[static_cast<size_t>(i)] =
            (ops::bce_with_logits_forward(ctx, up, y, w) - ops::bce_with_logits_forward(ctx, down, y, w)) / (2 * eps);
    }
    EXPECT_TRUE(all_close(dz.to_vector<double>(), numeric, 1e-7, 1e-9));
}

TEST(BceWithLogitsCpu, StableAtExtremeLogitsAndZeroWeights) {
    Context ctx(Device::cpu, 1);
    Tensor z = Tensor::from_vector<float>({100.0f, -100.0f, 100.0f, -100.0f}, {4});
    Tensor y = Tensor::from_vector<float>({1, 0, 0, 1}, {4});
    Tensor w = Tensor::from_vector<float>({1, 1, 1, 1}, {4});
    // Two confident right answers (loss ~0) and two confident wrong ones (loss 100 each).
    EXPECT_NEAR(ops::bce_with_logits_forward(ctx, z, y, w), 50.0, 1e-4);
    Tensor dz = Tensor::zeros({4}, DType::f32);
    ops::bce_with_logits_backward(ctx, z, y, w, dz);
    EXPECT_TRUE(all_close(as_doubles<float>(dz), {0.0, 0.0, 0.25, -0.25}, 1e-6, 1e-7));
    Tensor none = Tensor::zeros({4}, DType::f32);
    EXPECT_EQ(ops::bce_with_logits_forward(ctx, z, y, none), 0.0);
    ops::bce_with_logits_backward(ctx, z, y, none, dz);
    EXPECT_TRUE(all_close(as_doubles<float>(dz), {0, 0, 0, 0}, 0, 0));
}

TEST(BceWithLogitsCpu, SameLossForAnyThreadCount) {
    const int64_t n = 50000;
    Tensor z = random_tensor<float>({n}, 8, -4, 4);
    Tensor y = binary<float>(n, 9, 0.5);
    Tensor w = binary<float>(n, 10, 0.9);
    double one = 0, two = 0;
    {
        Context ctx(Device::cpu, 1);
        one = ops::bce_with_logits_forward(ctx, z, y, w);
    }
    {
        Context ctx(Device::cpu, 2);
        two = ops::bce_with_logits_forward(ctx, z, y, w);
    }
    EXPECT_EQ(one, two);
}

TEST(BceWithLogitsCpu, RejectsMismatchedShapes) {
    Context ctx(Device::cpu, 1);
    Tensor z = Tensor::zeros({4}, DType::f32), y = Tensor::zeros({3}, DType::f32);
    EXPECT_THROW(ops::bce_with_logits_forward(ctx, z, y, z), Error);
}

}  // namespace
}  // namespace skipper
