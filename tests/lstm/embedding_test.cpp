// The embedding op pair (engine/lstm_ops.h) on the CPU against plain double
// loops: the gather copies the indexed rows (zeros for -1), the backward pass
// sums each row's gradients (rows no index names are 0, repeats add up), and a
// bad index is an error naming it.
#include <gtest/gtest.h>

#include <random>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::random_tensor;

// n indices in [-1, rows), with repeats (rows is small against n) and padding.
std::vector<int32_t> random_indices(int64_t n, int64_t rows, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> dist(-1, static_cast<int32_t>(rows - 1));
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

template <class T> void check_against_reference(int threads) {
    Context ctx(Device::cpu, threads);
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
    uint64_t seed = 20;
    for (const auto& [n, rows, dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {50, 7, 3}, {2560, 300, 16},
                                       {0, 5, 4}, {40000, 97, 8}}) {
        const Tensor table = random_tensor<T>({rows, dim}, seed++, -2.0, 2.0);
        const auto idx = random_indices(n, rows, seed++);
        const Tensor index = Tensor::from_vector<int32_t>(idx, {n});
        Tensor out = Tensor::empty({n, dim}, dtype_of<T>());
        ops::embedding_forward(ctx, table, index, out);
        const auto tv = as_doubles<T>(table);
        std::vector<double> want(static_cast<size_t>(n * dim), 0.0);
        for (int64_t m = 0; m < n; ++m)
            for (int64_t j = 0; j < dim; ++j)
                if (idx[m] >= 0) want[m * dim + j] = tv[idx[m] * dim + j];
        EXPECT_EQ(as_doubles<T>(out), want) << "n=" << n;

        const Tensor d_out = random_tensor<T>({n, dim}, seed++, -1.0, 1.0);
        Tensor d_table = random_tensor<T>({rows, dim}, seed++);  // overwritten, not accumulated into
        ops::embedding_backward(ctx, d_out, index, d_table);
        const auto gv = as_doubles<T>(d_out);
        std::vector<double> want_grad(static_cast<size_t>(rows * dim), 0.0);
        for (int64_t m = 0; m < n; ++m)
            for (int64_t j = 0; j < dim; ++j)
                if (idx[m] >= 0) want_grad[idx[m] * dim + j] += gv[m * dim + j];
        EXPECT_TRUE(all_close(as_doubles<T>(d_table), want_grad, tol, tol)) << "n=" << n;
    }
}

TEST(Embedding, MatchesPlainLoopF64OneThread) { check_against_reference<double>(1); }
TEST(Embedding, MatchesPlainLoopF32TwoThreads) { check_against_reference<float>(2); }

TEST(Embedding, RejectsIndicesOutsideTheTableAndBadShapes) {
    Context ctx(Device::cpu, 1);
    const Tensor table = random_tensor<float>({4, 2}, 1);
    Tensor out = Tensor::empty({2, 2}, DType::f32);
    const Tensor too_big = Tensor::from_vector<int32_t>({0, 4}, {2});
    EXPECT_THROW(ops::embedding_forward(ctx, table, too_big, out), Error);
    const Tensor too_small = Tensor::from_vector<int32_t>({-2, 0}, {2});
    EXPECT_THROW(ops::embedding_forward(ctx, table, too_small, out), Error);
    const Tensor ok = Tensor::from_vector<int32_t>({3, -1}, {2});
    Tensor wrong = Tensor::empty({2, 3}, DType::f32);
    EXPECT_THROW(ops::embedding_forward(ctx, table, ok, wrong), Error);
    const Tensor as_float = Tensor::from_vector<float>({3, 1}, {2});
    EXPECT_THROW(ops::embedding_forward(ctx, table, as_float, out), Error);
    try {
        ops::embedding_backward(ctx, out, too_big, out);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("index[1] = 4"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace skipper
