// Every CUDA op of engine/ops.h against its CPU twin, both called through the
// engine API on the same random inputs (Device::cuda tensors vs Device::cpu),
// on random shapes including odd and empty ones. Device outputs are poisoned
// with NaN first, so an element the kernel never writes fails the comparison.
// Skipped on a machine without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "engine/error.h"
#include "engine/ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::host_values;
using test::poisoned_cuda;
using test::random_tensor;

// ||got - want|| / ||want||, the error measure for products whose summation order differs.
double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        diff += (got[i] - want[i]) * (got[i] - want[i]);
        norm += want[i] * want[i];
    }
    if (std::isnan(diff)) return std::numeric_limits<double>::infinity();
    return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

struct MatmulCase {
    int64_t m, n, k;
    bool ta, tb;
};

// The LSTM's own products are among them: the recurrent one [B,H]x[H,4H]^T, the
// input projection [T*B,F]x[4H,F]^T with F = 1, and the weight gradient
// dgates^T x h over all steps.
const MatmulCase kMatmulCases[] = {{1, 1, 1, false, false},     {7, 5, 3, false, false},     {7, 5, 3, true, false},
                                   {7, 5, 3, false, true},      {7, 5, 3, true, true},       {33, 464, 1, false, true},
                                   {1000, 464, 116, false, true}, {464, 116, 2000, true, false}, {65, 17, 116, true, true},
                                   {0, 5, 3, false, false},     {4, 0, 3, false, true},      {4, 6, 0, false, false},
                                   {129, 31, 232, false, true}};

template <class T> void check_matmul(bool tf32, double tolerance) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    gpu.set_tf32(tf32);
    uint64_t seed = 1;
    for (const auto& s : kMatmulCases) {
        for (const auto& [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{0.75, 0.5}, std::pair{-1.5, 1.0}}) {
            Tensor a = random_tensor<T>(s.ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, seed++);
            Tensor b = random_tensor<T>(s.tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, seed++);
            Tensor c = random_tensor<T>({s.m, s.n}, seed++);
            Tensor da = a.to(Device::cuda), db = b.to(Device::cuda), dc = c.to(Device::cuda);
            ops::matmul(cpu, a, s.ta, b, s.tb, c, alpha, beta);
            ops::matmul(gpu, da, s.ta, db, s.tb, dc, alpha, beta);
            EXPECT_LE(relative_error(host_values<T>(dc), as_doubles<T>(c)), tolerance)
                << "m=" << s.m << " n=" << s.n << " k=" << s.k << " ta=" << s.ta << " tb=" << s.tb
                << " alpha=" << alpha << " beta=" << beta << " tf32=" << tf32;
        }
    }
}

TEST(MatmulCuda, MatchesCpuF32) { check_matmul<float>(false, 1e-5); }
TEST(MatmulCuda, MatchesCpuF64) { check_matmul<double>(false, 1e-13); }
// TF32 keeps 10 mantissa bits of each operand: about 3e-4 relative error on
// random data, far above f32's 1e-7 and far below a wrong result's 1.
TEST(MatmulCuda, Tf32IsCloseToCpuF32) { check_matmul<float>(true, 2e-3); }
// The TF32 switch must not touch double-precision products.
TEST(MatmulCuda, Tf32LeavesF64Exact) { check_matmul<double>(true, 1e-13); }

template <class T> void check_matmul_batched(bool shared_b) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const double tolerance = sizeof(T) == 4 ? 1e-5 : 1e-13;
    const MatmulCase cases[] = {{5, 7, 3, false, true}, {20, 116, 464, false, false}, {9, 4, 11, true, true},
                                {1, 1, 1, true, false}, {0, 3, 2, false, false}};
    uint64_t seed = 77;
    for (int64_t batch : {int64_t{1}, int64_t{4}, int64_t{13}, int64_t{0}}) {
        for (const auto& s : cases) {
            Tensor a = random_tensor<T>(s.ta ? Shape{batch, s.k, s.m} : Shape{batch, s.m, s.k}, seed++);
            const Shape b_matrix = s.tb ? Shape{s.n, s.k} : Shape{s.k, s.n};
            Shape b_shape = b_matrix;
            if (!shared_b) b_shape.insert(b_shape.begin(), batch);
            Tensor b = random_tensor<T>(b_shape, seed++);
            Tensor c = random_tensor<T>({batch, s.m, s.n}, seed++);
            Tensor dc = c.to(Device::cuda);
            ops::matmul_batched(cpu, a, s.ta, b, s.tb, c, 0.5, -0.25);
            ops::matmul_batched(gpu, a.to(Device::cuda), s.ta, b.to(Device::cuda), s.tb, dc, 0.5, -0.25);
            EXPECT_LE(relative_error(host_values<T>(dc), as_doubles<T>(c)), tolerance)
                << "batch=" << batch << " m=" << s.m << " n=" << s.n << " k=" << s.k << " shared_b=" << shared_b;
        }
    }
}

TEST(MatmulBatchedCuda, MatchesCpuF32) { check_matmul_batched<float>(false); }
TEST(MatmulBatchedCuda, MatchesCpuF64) { check_matmul_batched<double>(false); }
TEST(MatmulBatchedCuda, SharedRightOperandF32) { check_matmul_batched<float>(true); }
TEST(MatmulBatchedCuda, SharedRightOperandF64) { check_matmul_batched<double>(true); }

TEST(MatmulCuda, RejectsMixedDevices) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context gpu(Device::cuda);
    Tensor a = Tensor::zeros({3, 4}, DType::f32, Device::cuda), b = Tensor::zeros({4, 2}, DType::f32);
    Tensor c = Tensor::zeros({3, 2}, DType::f32, Device::cuda);
    EXPECT_THROW(ops::matmul(gpu, a, false, b, false, c), Error);
}

// Sizes straddle the block size (256) and include a grid larger than one wave.
const int64_t kSizes[] = {0, 1, 7, 255, 257, 1000, 40'001, 1'000'003};

// CUDA's exp and tanh are within 2 ulp of the correctly rounded value, and
// glibc's within 1: the forward maps may differ by a few ulp. nvcc contracts
// 1 - y*y into one fused multiply-add where the CPU build rounds twice, so the
// derivatives may differ by an ulp of 1 times |dy|: an absolute tolerance.
template <class T> void check_unary() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const double rtol = sizeof(T) == 4 ? 1e-6 : 2e-15;
    const double derivative_atol = sizeof(T) == 4 ? 2.5e-7 : 5e-16;
    for (int64_t n : kSizes) {
        Tensor x = random_tensor<T>({n}, 100 + n, -12.0, 12.0);
        Tensor dy = random_tensor<T>({n}, 200 + n);
        Tensor dx = x.to(Device::cuda), ddy = dy.to(Device::cuda);
        Tensor y = Tensor::empty({n}, dtype_of<T>()), g = Tensor::empty({n}, dtype_of<T>());
        Tensor gy = poisoned_cuda(gpu, {n}, dtype_of<T>()), gg = poisoned_cuda(gpu, {n}, dtype_of<T>());

        ops::sigmoid_forward(cpu, x, y);
        ops::sigmoid_forward(gpu, dx, gy);
        EXPECT_TRUE(all_close(host_values<T>(gy), as_doubles<T>(y), rtol, 1e-30)) << "sigmoid n=" << n;
        // The backward ops read the forward output; feed both the same one.
        Tensor dy_from = y.to(Device::cuda);
        ops::sigmoid_backward(cpu, y, dy, g);
        ops::sigmoid_backward(gpu, dy_from, ddy, gg);
        EXPECT_TRUE(all_close(host_values<T>(gg), as_doubles<T>(g), rtol, derivative_atol)) << "sigmoid' n=" << n;

        gy = poisoned_cuda(gpu, {n}, dtype_of<T>());
        gg = poisoned_cuda(gpu, {n}, dtype_of<T>());
        ops::tanh_forward(cpu, x, y);
        ops::tanh_forward(gpu, dx, gy);
        EXPECT_TRUE(all_close(host_values<T>(gy), as_doubles<T>(y), rtol, 1e-30)) << "tanh n=" << n;
        dy_from = y.to(Device::cuda);
        ops::tanh_backward(cpu, y, dy, g);
        ops::tanh_backward(gpu, dy_from, ddy, gg);
        EXPECT_TRUE(all_close(host_values<T>(gg), as_doubles<T>(g), rtol, derivative_atol)) << "tanh' n=" << n;
    }
}

TEST(ElementwiseCuda, SigmoidTanhAndDerivativesF32) { check_unary<float>(); }
TEST(ElementwiseCuda, SigmoidTanhAndDerivativesF64) { check_unary<double>(); }

// add, scale and fill are single correctly rounded operations: bit-identical.
template <class T> void check_add_scale_fill() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    for (int64_t n : kSizes) {
        Tensor a = random_tensor<T>({n}, 300 + n), b = random_tensor<T>({n}, 400 + n);
        Tensor da = a.to(Device::cuda), db = b.to(Device::cuda);
        Tensor out = Tensor::empty({n}, dtype_of<T>()), dout = poisoned_cuda(gpu, {n}, dtype_of<T>());
        ops::add(cpu, a, b, out);
        ops::add(gpu, da, db, dout);
        EXPECT_EQ(dout.to(Device::cpu).to_vector<T>(), out.to_vector<T>()) << "add n=" << n;
        ops::add(gpu, da, db, da);  // out aliasing a
        EXPECT_EQ(da.to(Device::cpu).to_vector<T>(), out.to_vector<T>()) << "add in place n=" << n;
        ops::scale(cpu, b, -2.5, b);
        ops::scale(gpu, db, -2.5, db);
        EXPECT_EQ(db.to(Device::cpu).to_vector<T>(), b.to_vector<T>()) << "scale n=" << n;
        ops::fill(gpu, dout, 3.25);
        EXPECT_EQ(dout.to(Device::cpu).to_vector<T>(), std::vector<T>(static_cast<size_t>(n), T(3.25)));
    }
}

TEST(ElementwiseCuda, AddScaleFillF32) { check_add_scale_fill<float>(); }
TEST(ElementwiseCuda, AddScaleFillF64) { check_add_scale_fill<double>(); }

TEST(ElementwiseCuda, FillIntegerDtypes) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context gpu(Device::cuda);
    Tensor i = Tensor::empty({1001}, DType::i32, Device::cuda);
    ops::fill(gpu, i, -7);
    EXPECT_EQ(i.to(Device::cpu).to_vector<int32_t>(), std::vector<int32_t>(1001, -7));
    Tensor u = Tensor::empty({333}, DType::u8, Device::cuda);
    ops::fill(gpu, u, 200);
    EXPECT_EQ(u.to(Device::cpu).to_vector<uint8_t>(), std::vector<uint8_t>(333, 200));
}

// Both devices sum fixed 4096-element blocks in double and add the blocks in
// order; only the order inside a block differs (a tree on the GPU).
template <class T> void check_sum() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    for (int64_t n : kSizes) {
        Tensor x = random_tensor<T>({n}, 500 + n);
        const Tensor dx = x.to(Device::cuda);
        const double want = ops::sum(cpu, x);
        const double got = ops::sum(gpu, dx);
        EXPECT_NEAR(got, want, 1e-12 * (1.0 + static_cast<double>(n))) << "sum n=" << n;
        EXPECT_EQ(ops::sum(gpu, dx), got) << "the GPU sum must be deterministic, n=" << n;
    }
}

TEST(ReduceCuda, SumF32) { check_sum<float>(); }
TEST(ReduceCuda, SumF64) { check_sum<double>(); }

TEST(ReduceCuda, SumIntegerDtypesIsExact) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    std::vector<int32_t> ints(100'003);
    std::vector<uint8_t> bytes(70'001);
    std::mt19937 rng(5);
    for (auto& v : ints) v = static_cast<int32_t>(rng() % 2001) - 1000;
    for (auto& v : bytes) v = static_cast<uint8_t>(rng() % 256);
    const Tensor ti = Tensor::from_vector<int32_t>(ints, {100'003});
    const Tensor tb = Tensor::from_vector<uint8_t>(bytes, {70'001});
    EXPECT_EQ(ops::sum(gpu, ti.to(Device::cuda)), ops::sum(cpu, ti));
    EXPECT_EQ(ops::sum(gpu, tb.to(Device::cuda)), ops::sum(cpu, tb));
}

// Both devices accumulate in double, in different fixed orders (the CPU row by
// row, the GPU in chunks and lanes: kernels/cuda/sum_rows_plan.h, whose order
// tests/cuda/sum_rows_plan_test.cpp checks on the CPU): equal to the rounding
// of the result, and bit-identical from one GPU run to the next (no atomics).
template <class T> void check_sum_rows() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const std::pair<int64_t, int64_t> shapes[] = {{0, 3},   {1, 1},      {5, 7},     {1000, 464}, {20000, 464},
                                                  {3, 130}, {4, 0},      {257, 33},  {2051, 5}};
    // f32: both round the same double sum to f32 (an ulp apart at most); f64:
    // two summation orders of `rows` values in [-1, 1].
    const double rtol = sizeof(T) == 4 ? 1e-6 : 1e-13;
    for (auto [rows, cols] : shapes) {
        Tensor x = random_tensor<T>({rows, cols}, 600 + rows * 7 + cols);
        Tensor out = Tensor::empty({cols}, dtype_of<T>()), dout = poisoned_cuda(gpu, {cols}, dtype_of<T>());
        Tensor again = poisoned_cuda(gpu, {cols}, dtype_of<T>());
        ops::sum_rows(cpu, x, out);
        const Tensor dx = x.to(Device::cuda);
        ops::sum_rows(gpu, dx, dout);
        ops::sum_rows(gpu, dx, again);
        const double atol = sizeof(T) == 4 ? 1e-6 : 1e-15 * static_cast<double>(rows + 1);
        EXPECT_TRUE(all_close(host_values<T>(dout), as_doubles<T>(out), rtol, atol)) << rows << "x" << cols;
        EXPECT_EQ(host_values<T>(again), host_values<T>(dout)) << rows << "x" << cols << ": not deterministic";
    }
}

TEST(ReduceCuda, SumRowsF32) { check_sum_rows<float>(); }
TEST(ReduceCuda, SumRowsF64) { check_sum_rows<double>(); }

// The counter-based generator gives the same bits on both devices, which is
// what lets the two devices start training from identical weights.
template <class T> void check_fill_uniform() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    for (int64_t n : kSizes) {
        for (uint64_t seed : {uint64_t{0}, uint64_t{42}, uint64_t{0xDEADBEEFCAFEull}}) {
            Tensor x = Tensor::empty({n}, dtype_of<T>()), dx = poisoned_cuda(gpu, {n}, dtype_of<T>());
            ops::fill_uniform(cpu, x, -0.37, 1.9, seed);
            ops::fill_uniform(gpu, dx, -0.37, 1.9, seed);
            EXPECT_EQ(dx.to(Device::cpu).to_vector<T>(), x.to_vector<T>()) << "n=" << n << " seed=" << seed;
        }
    }
}

TEST(RandomCuda, UniformFillBitIdenticalToCpuF32) { check_fill_uniform<float>(); }
TEST(RandomCuda, UniformFillBitIdenticalToCpuF64) { check_fill_uniform<double>(); }

// Two contexts on two streams: work ordered with wait_for sees the other
// stream's results without a host synchronisation in between.
TEST(ContextCuda, WaitForOrdersWorkAcrossStreams) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context first(Device::cuda), second(Device::cuda);
    const int64_t n = 1 << 22;
    Tensor a = Tensor::empty({n}, DType::f32, Device::cuda), b = Tensor::empty({n}, DType::f32, Device::cuda);
    for (int round = 0; round < 3; ++round) {
        ops::fill(first, a, 1.0 + round);
        for (int i = 0; i < 8; ++i) ops::add(first, a, a, a);  // a long chain on the first stream
        second.wait_for(first);
        ops::scale(second, a, 0.5, b);
        second.synchronize();
        EXPECT_EQ(ops::sum(second, b), static_cast<double>(n) * (1.0 + round) * 128.0) << "round " << round;
    }
}

}  // namespace
}  // namespace skipper
