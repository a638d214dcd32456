// Every CPU op against a plain double-precision loop written here, on random
// shapes including odd and empty ones.
#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::random_tensor;

struct MatmulCase {
    int64_t m, n, k;
    bool ta, tb;
};

std::vector<double> reference_matmul(const std::vector<double>& a, const std::vector<double>& b,
                                     const std::vector<double>& c0, const MatmulCase& s, double alpha, double beta) {
    std::vector<double> c(static_cast<size_t>(s.m * s.n));
    for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
            double acc = 0.0;
            for (int64_t p = 0; p < s.k; ++p) {
                const double av = s.ta ? a[p * s.m + i] : a[i * s.k + p];
                const double bv = s.tb ? b[j * s.k + p] : b[p * s.n + j];
                acc += av * bv;
            }
            c[i * s.n + j] = alpha * acc + beta * c0[i * s.n + j];
        }
    return c;
}

const MatmulCase kMatmulCases[] = {{1, 1, 1, false, false},  {7, 5, 3, false, false}, {7, 5, 3, true, false},
                                   {7, 5, 3, false, true},   {7, 5, 3, true, true},   {33, 464, 1, false, false},
                                   {65, 17, 116, true, true}, {0, 5, 3, false, false}, {4, 0, 3, false, true},
                                   {4, 6, 0, false, false},  {129, 31, 232, false, true}};

template <class T> void check_matmul(Device device, double rtol) {
    Context ctx(device, 2);
    uint64_t seed = 1;
    for (const auto& s : kMatmulCases) {
        Tensor a = random_tensor<T>(s.ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, seed++);
        Tensor b = random_tensor<T>(s.tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, seed++);
        Tensor c = random_tensor<T>({s.m, s.n}, seed++);
        const auto want = reference_matmul(as_doubles<T>(a), as_doubles<T>(b), as_doubles<T>(c), s, 0.75, 0.5);
        Tensor da = a.to(device), db = b.to(device), dc = c.to(device);
        ops::matmul(ctx, da, s.ta, db, s.tb, dc, 0.75, 0.5);
        EXPECT_TRUE(all_close(as_doubles<T>(dc.to(Device::cpu)), want, rtol, rtol))
            << "m=" << s.m << " n=" << s.n << " k=" << s.k << " ta=" << s.ta << " tb=" << s.tb;
    }
}

TEST(MatmulCpu, MatchesReferenceF32) { check_matmul<float>(Device::cpu, 1e-5); }
TEST(MatmulCpu, MatchesReferenceF64) { check_matmul<double>(Device::cpu, 1e-12); }

TEST(MatmulCpu, BatchedMatchesPerMatrixReference) {
    Context ctx(Device::cpu, 2);
    const MatmulCase s{5, 7, 3, false, true};
    const int64_t batch = 4;
    Tensor a = random_tensor<double>({batch, s.m, s.k}, 11);
    Tensor b = random_tensor<double>({batch, s.n, s.k}, 12);
    Tensor c = Tensor::zeros({batch, s.m, s.n}, DType::f64);
    ops::matmul_batched(ctx, a, false, b, true, c);
    const auto av = as_doubles<double>(a), bv = as_doubles<double>(b), cv = as_doubles<double>(c);
    for (int64_t i = 0; i < batch; ++i) {
        std::vector<double> ai(av.begin() + i * s.m * s.k, av.begin() + (i + 1) * s.m * s.k);
        std::vector<double> bi(bv.begin() + i * s.n * s.k, bv.begin() + (i + 1) * s.n * s.k);
        std::vector<double> ci(cv.begin() + i * s.m * s.n, cv.begin() + (i + 1) * s.m * s.n);
        EXPECT_TRUE(all_close(ci, reference_matmul(ai, bi, std::vector<double>(ci.size()), s, 1.0, 0.0), 1e-12, 1e-12));
    }
}

TEST(MatmulCpu, SharedRightOperandAcrossBatch) {
    Context ctx(Device::cpu, 1);
    Tensor a = random_tensor<float>({3, 4, 5}, 21);
    Tensor b = random_tensor<float>({5, 2}, 22);
    Tensor c = Tensor::zeros({3, 4, 2}, DType::f32);
    ops::matmul_batched(ctx, a, false, b, false, c);
    const auto av = as_doubles<float>(a), bv = as_doubles<float>(b), cv = as_doubles<float>(c);
    for (int64_t i = 0; i < 3; ++i) {
        std::vector<double> ai(av.begin() + i * 20, av.begin() + (i + 1) * 20);
        std::vector<double> ci(cv.begin() + i * 8, cv.begin() + (i + 1) * 8);
        EXPECT_TRUE(all_close(ci, reference_matmul(ai, bv, std::vector<double>(8), {4, 2, 5, false, false}, 1, 0), 1e-5, 1e-5));
    }
}

TEST(MatmulCpu, RejectsShapesThatDoNotChain) {
    Context ctx(Device::cpu, 1);
    Tensor a = Tensor::zeros({3, 4}, DType::f32), b = Tensor::zeros({5, 2}, DType::f32), c = Tensor::zeros({3, 2}, DType::f32);
    EXPECT_THROW(ops::matmul(ctx, a, false, b, false, c), Error);
    Tensor d = Tensor::zeros({4, 2}, DType::f64);
    EXPECT_THROW(ops::matmul(ctx, a, false, d, false, c), Error);
}

const int64_t kSizes[] = {0, 1, 7, 1000, 40'001};

template <class T> void check_unary(Device device, double rtol) {
    Context ctx(device, 2);
    for (int64_t n : kSizes) {
        Tensor x = random_tensor<T>({n}, 100 + n, -4.0, 4.0);
        Tensor dy = random_tensor<T>({n}, 200 + n);
        const auto xv = as_doubles<T>(x), dyv = as_doubles<T>(dy);
        std::vector<double> sig(xv.size()), th(xv.size()), dsig(xv.size()), dth(xv.size());
        for (size_t i = 0; i < xv.size(); ++i) {
            sig[i] = 1.0 / (1.0 + std::exp(-xv[i]));
            th[i] = std::tanh(xv[i]);
        }
        Tensor dx = x.to(device), ddy = dy.to(device);
        Tensor y = Tensor::empty({n}, dtype_of<T>(), device), g = Tensor::empty({n}, dtype_of<T>(), device);
        ops::sigmoid_forward(ctx, dx, y);
        const auto yv = as_doubles<T>(y.to(Device::cpu));
        EXPECT_TRUE(all_close(yv, sig, rtol, rtol)) << "sigmoid n=" << n;
        ops::sigmoid_backward(ctx, y, ddy, g);
        for (size_t i = 0; i < xv.size(); ++i) dsig[i] = dyv[i] * yv[i] * (1 - yv[i]);
        EXPECT_TRUE(all_close(as_doubles<T>(g.to(Device::cpu)), dsig, rtol, rtol)) << "sigmoid' n=" << n;
        ops::tanh_forward(ctx, dx, y);
        const auto tv = as_doubles<T>(y.to(Device::cpu));
        EXPECT_TRUE(all_close(tv, th, rtol, rtol)) << "tanh n=" << n;
        ops::tanh_backward(ctx, y, ddy, g);
        for (size_t i = 0; i < xv.size(); ++i) dth[i] = dyv[i] * (1 - tv[i] * tv[i]);
        EXPECT_TRUE(all_close(as_doubles<T>(g.to(Device::cpu)), dth, rtol, rtol)) << "tanh' n=" << n;
    }
}

TEST(ElementwiseCpu, SigmoidTanhAndDerivativesF32) { check_unary<float>(Device::cpu, 1e-6); }
TEST(ElementwiseCpu, SigmoidTanhAndDerivativesF64) { check_unary<double>(Device::cpu, 1e-14); }

template <class T> void check_add_scale_fill_sum(Device device, double rtol) {
    Context ctx(device, 2);
    for (int64_t n : kSizes) {
        Tensor a = random_tensor<T>({n}, 300 + n), b = random_tensor<T>({n}, 400 + n);
        const auto av = as_doubles<T>(a), bv = as_doubles<T>(b);
        Tensor da = a.to(device), db = b.to(device), out = Tensor::empty({n}, dtype_of<T>(), device);
        ops::add(ctx, da, db, out);
        std::vector<double> want(av.size());
        for (size_t i = 0; i < av.size(); ++i) want[i] = av[i] + bv[i];
        EXPECT_TRUE(all_close(as_doubles<T>(out.to(Device::cpu)), want, rtol, rtol)) << "add n=" << n;
        ops::scale(ctx, da, -2.5, da);  // in place
        for (size_t i = 0; i < av.size(); ++i) want[i] = -2.5 * av[i];
        EXPECT_TRUE(all_close(as_doubles<T>(da.to(Device::cpu)), want, rtol, rtol)) << "scale n=" << n;
        double want_sum = 0.0;
        for (double v : bv) want_sum += v;
        EXPECT_NEAR(ops::sum(ctx, db), want_sum, 1e-9 * (1 + static_cast<double>(n))) << "sum n=" << n;
        ops::fill(ctx, out, 3.25);
        EXPECT_TRUE(all_close(as_doubles<T>(out.to(Device::cpu)), std::vector<double>(av.size(), 3.25), 0, 0));
    }
}

TEST(ElementwiseCpu, AddScaleFillSumF32) { check_add_scale_fill_sum<float>(Device::cpu, 1e-6); }
TEST(ElementwiseCpu, AddScaleFillSumF64) { check_add_scale_fill_sum<double>(Device::cpu, 1e-15); }

template <class T> void check_sum_rows(Device device, double rtol) {
    Context ctx(device, 2);
    const std::pair<int64_t, int64_t> shapes[] = {{0, 3}, {1, 1}, {5, 7}, {1000, 464}, {3, 130}, {4, 0}};
    for (auto [rows, cols] : shapes) {
        Tensor x = random_tensor<T>({rows, cols}, 500 + rows * 7 + cols);
        const auto xv = as_doubles<T>(x);
        std::vector<double> want(static_cast<size_t>(cols), 0.0);
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) want[j] += xv[i * cols + j];
        Tensor out = Tensor::empty({cols}, dtype_of<T>(), device);
        ops::sum_rows(ctx, x.to(device), out);
        EXPECT_TRUE(all_close(as_doubles<T>(out.to(Device::cpu)), want, rtol, rtol)) << rows << "x" << cols;
    }
}

TEST(ReduceCpu, SumRowsF32) { check_sum_rows<float>(Device::cpu, 1e-6); }
TEST(ReduceCpu, SumRowsF64) { check_sum_rows<double>(Device::cpu, 1e-13); }

TEST(ReduceCpu, SumIsIdenticalForAnyThreadCount) {
    Tensor x = random_tensor<float>({100'003}, 7);
    Context one(Device::cpu, 1);
    const double s1 = ops::sum(one, x);
    Context two(Device::cpu, 2);
    const double s2 = ops::sum(two, x);
    EXPECT_EQ(s1, s2);
}

TEST(RandomCpu, UniformFillIsSeededAndInRange) {
    Context ctx(Device::cpu, 2);
    Tensor a = Tensor::empty({50'000}, DType::f32), b = Tensor::empty({50'000}, DType::f32);
    ops::fill_uniform(ctx, a, -0.5, 0.5, 42);
    ops::fill_uniform(ctx, b, -0.5, 0.5, 42);
    const auto av = a.to_vector<float>(), bv = b.to_vector<float>();
    EXPECT_EQ(av, bv);
    double mean = 0.0;
    for (float v : av) {
        ASSERT_GE(v, -0.5f);
        ASSERT_LT(v, 0.5f);
        mean += v;
    }
    EXPECT_NEAR(mean / static_cast<double>(av.size()), 0.0, 0.01);
    ops::fill_uniform(ctx, b, -0.5, 0.5, 43);
    EXPECT_NE(av, b.to_vector<float>());
}

TEST(Ops, KeyHashIsStableAndSpreadsSimilarIds) {
    // Saved models index their embedding tables by these values: pinned.
    EXPECT_EQ(ops::key_hash("t_0"), 1302423076);
    EXPECT_EQ(ops::key_hash(""), 2016385582);
    std::vector<int64_t> count(16, 0);
    for (int i = 0; i < 16000; ++i) {
        const int32_t h = ops::key_hash("t_" + std::to_string(i));
        ASSERT_GE(h, 0);
        ++count[static_cast<size_t>(ops::hash_bucket(h, 16))];
    }
    for (int64_t c : count) EXPECT_NEAR(static_cast<double>(c), 1000.0, 150.0);  // about 5 sd of a binomial
}

}  // namespace
}  // namespace skipper
