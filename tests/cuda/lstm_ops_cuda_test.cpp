// The LSTM's CUDA ops (engine/lstm_ops.h: cell forward and backward, add_bias,
// masked BCE with logits, Adam) against their CPU twins through the engine API,
// f32 and f64, on odd shapes and masks with zeros. Device outputs are poisoned
// with NaN first, so an element a kernel never writes fails the comparison.
// Skipped on a machine without a usable GPU.
#include <gtest/gtest.h>

#include <limits>

#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::all_close;
using test::as_doubles;
using test::host_values;
using test::poisoned_cuda;
using test::random_tensor;

// Per-row 0/1 mask: a pattern with zeros in odd places, all ones, or all zeros.
enum class MaskKind { mixed, ones, zeros };
template <class T> Tensor make_mask(int64_t batch, MaskKind kind, uint64_t seed) {
    std::vector<T> mask(static_cast<size_t>(batch));
    std::mt19937_64 rng(seed);
    for (auto& m : mask) m = kind == MaskKind::ones ? T(1) : kind == MaskKind::zeros ? T(0) : T(rng() % 3 != 0);
    return Tensor::from_vector<T>(mask, {batch});
}

struct CellShape {
    int64_t batch, hidden;
};
// Includes the model's own (1000 x 116), rows and units that straddle the
// 256-thread block, and empty ones.
const CellShape kCellShapes[] = {{1, 1}, {7, 5}, {3, 116}, {1000, 116}, {257, 3}, {33, 129}, {0, 116}, {4, 0}};
const MaskKind kMaskKinds[] = {MaskKind::mixed, MaskKind::ones, MaskKind::zeros};

// CUDA's expf/tanhf are within 2 ulp and nvcc contracts products into fused
// multiply-adds where the CPU build does not: a few ulp of the state's scale.
template <class T> double cell_tolerance() { return sizeof(T) == 4 ? 2e-6 : 1e-14; }

template <class T> void check_cell_forward() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const double tol = cell_tolerance<T>();
    uint64_t seed = 1000;
    for (const auto& s : kCellShapes) {
        for (MaskKind kind : kMaskKinds) {
            const int64_t b = s.batch, h = s.hidden;
            Tensor gates = random_tensor<T>({b, 4 * h}, seed++, -4.0, 4.0);
            const Tensor bias = random_tensor<T>({4 * h}, seed++);
            const Tensor c_prev = random_tensor<T>({b, h}, seed++, -2.0, 2.0);
            const Tensor h_prev = random_tensor<T>({b, h}, seed++);
            const Tensor mask = make_mask<T>(b, kind, seed++);
            Tensor dgates = gates.to(Device::cuda);
            Tensor c = Tensor::empty({b, h}, dtype_of<T>()), hh = Tensor::empty({b, h}, dtype_of<T>());
            Tensor dc = poisoned_cuda(gpu, {b, h}, dtype_of<T>()), dh = poisoned_cuda(gpu, {b, h}, dtype_of<T>());
            ops::lstm_cell_forward(cpu, gates, bias, c_prev, h_prev, mask, c, hh);
            ops::lstm_cell_forward(gpu, dgates, bias.to(Device::cuda), c_prev.to(Device::cuda),
                                   h_prev.to(Device::cuda), mask.to(Device::cuda), dc, dh);
            const std::string where = "B=" + std::to_string(b) + " H=" + std::to_string(h) +
                                      " mask=" + std::to_string(static_cast<int>(kind));
            EXPECT_TRUE(all_close(host_values<T>(dgates), as_doubles<T>(gates), tol, tol)) << "activations " << where;
            EXPECT_TRUE(all_close(host_values<T>(dc), as_doubles<T>(c), tol, tol)) << "c " << where;
            EXPECT_TRUE(all_close(host_values<T>(dh), as_doubles<T>(hh), tol, tol)) << "h " << where;
            if (kind == MaskKind::zeros) {
                // Padding carries the state bit for bit.
                EXPECT_EQ(dc.to(Device::cpu).to_vector<T>(), c_prev.to_vector<T>()) << where;
                EXPECT_EQ(dh.to(Device::cpu).to_vector<T>(), h_prev.to_vector<T>()) << where;
            }
        }
    }
}

TEST(LstmCellCuda, ForwardMatchesCpuF32) { check_cell_forward<float>(); }
TEST(LstmCellCuda, ForwardMatchesCpuF64) { check_cell_forward<double>(); }

// The backward inputs come from a real forward step on the CPU, so the gate
// activations and cell states are consistent, as in training.
template <class T> void check_cell_backward(bool aliased) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const double tol = cell_tolerance<T>();
    uint64_t seed = 2000;
    for (const auto& s : kCellShapes) {
        for (MaskKind kind : kMaskKinds) {
            const int64_t b = s.batch, h = s.hidden;
            Tensor gates = random_tensor<T>({b, 4 * h}, seed++, -3.0, 3.0);
            const Tensor bias = random_tensor<T>({4 * h}, seed++);
            const Tensor c_prev = random_tensor<T>({b, h}, seed++, -2.0, 2.0);
            const Tensor h_prev = random_tensor<T>({b, h}, seed++);
            const Tensor mask = make_mask<T>(b, kind, seed++);
            Tensor c = Tensor::empty({b, h}, dtype_of<T>()), hh = Tensor::empty({b, h}, dtype_of<T>());
            ops::lstm_cell_forward(cpu, gates, bias, c_prev, h_prev, mask, c, hh);

            const Tensor dh = random_tensor<T>({b, h}, seed++), dc = random_tensor<T>({b, h}, seed++);
            Tensor dgates = Tensor::empty({b, 4 * h}, dtype_of<T>());
            Tensor dc_prev = Tensor::empty({b, h}, dtype_of<T>()), dh_prev = Tensor::empty({b, h}, dtype_of<T>());
            ops::lstm_cell_backward(cpu, gates, c_prev, c, mask, dh, dc, dgates, dc_prev, dh_prev);

            Tensor g_dh = dh.to(Device::cuda), g_dc = dc.to(Device::cuda);
            Tensor g_dgates = poisoned_cuda(gpu, {b, 4 * h}, dtype_of<T>());
            Tensor g_dc_prev = aliased ? g_dc : poisoned_cuda(gpu, {b, h}, dtype_of<T>());
            Tensor g_dh_prev = aliased ? g_dh : poisoned_cuda(gpu, {b, h}, dtype_of<T>());
            ops::lstm_cell_backward(gpu, gates.to(Device::cuda), c_prev.to(Device::cuda), c.to(Device::cuda),
                                    mask.to(Device::cuda), g_dh, g_dc, g_dgates, g_dc_prev, g_dh_prev);
            const std::string where = "B=" + std::to_string(b) + " H=" + std::to_string(h) + " mask=" +
                                      std::to_string(static_cast<int>(kind)) + " aliased=" + std::to_string(aliased);
            EXPECT_TRUE(all_close(host_values<T>(g_dgates), as_doubles<T>(dgates), tol, tol)) << "dgates " << where;
            EXPECT_TRUE(all_close(host_values<T>(g_dc_prev), as_doubles<T>(dc_prev), tol, tol)) << "dc_prev " << where;
            EXPECT_TRUE(all_close(host_values<T>(g_dh_prev), as_doubles<T>(dh_prev), tol, tol)) << "dh_prev " << where;
        }
    }
}

TEST(LstmCellCuda, BackwardMatchesCpuF32) { check_cell_backward<float>(false); }
TEST(LstmCellCuda, BackwardMatchesCpuF64) { check_cell_backward<double>(false); }
TEST(LstmCellCuda, BackwardInPlaceMatchesCpuF32) { check_cell_backward<float>(true); }
TEST(LstmCellCuda, BackwardInPlaceMatchesCpuF64) { check_cell_backward<double>(true); }

// One addition per element: bit-identical.
template <class T> void check_add_bias() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {7, 1}, {5, 464}, {20000, 464}, {3, 257}, {0, 4}, {4, 0}};
    uint64_t seed = 3000;
    for (auto [rows, cols] : shapes) {
        Tensor x = random_tensor<T>({rows, cols}, seed++);
        const Tensor bias = random_tensor<T>({cols}, seed++);
        Tensor dx = x.to(Device::cuda);
        ops::add_bias(cpu, x, bias);
        ops::add_bias(gpu, dx, bias.to(Device::cuda));
        EXPECT_EQ(dx.to(Device::cpu).to_vector<T>(), x.to_vector<T>()) << rows << "x" << cols;
    }
}

TEST(AddBiasCuda, MatchesCpuF32) { check_add_bias<float>(); }
TEST(AddBiasCuda, MatchesCpuF64) { check_add_bias<double>(); }

// Sizes straddle the 4096-element reduction blocks; the session shape's
// [T=20, B=1000] and B=4096's are among them.
const int64_t kLossSizes[] = {1, 7, 4095, 4096, 4097, 20000, 81920, 100'003};

template <class T> void check_bce(MaskKind kind) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    // Both devices compute each term in double from the same inputs and add
    // the same 4096-element blocks in order: the loss agrees to rounding. The
    // gradient is computed in T on the CPU.
    const double loss_tol = 1e-12;
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-13;
    uint64_t seed = 4000;
    for (int64_t n : kLossSizes) {
        // Logits over a wide range, a few saturated ones included.
        std::vector<double> z = test::random_values(static_cast<size_t>(n), seed++, -8.0, 8.0);
        for (size_t i = 0; i < z.size(); i += 97) z[i] = i % 2 ? 60.0 : -60.0;
        const Tensor logits = Tensor::from_vector<T>(std::vector<T>(z.begin(), z.end()), {n});
        std::vector<T> y(static_cast<size_t>(n));
        std::mt19937_64 rng(seed++);
        for (auto& v : y) v = T(rng() % 2);
        const Tensor targets = Tensor::from_vector<T>(y, {n});
        const Tensor weights = make_mask<T>(n, kind, seed++);
        const Tensor g_logits = logits.to(Device::cuda), g_targets = targets.to(Device::cuda);
        const Tensor g_weights = weights.to(Device::cuda);

        const double want = ops::bce_with_logits_forward(cpu, logits, targets, weights);
        const double got = ops::bce_with_logits_forward(gpu, g_logits, g_targets, g_weights);
        EXPECT_NEAR(got, want, loss_tol * (1.0 + std::fabs(want))) << "loss n=" << n;
        EXPECT_EQ(ops::bce_with_logits_forward(gpu, g_logits, g_targets, g_weights), got)
            << "the GPU loss must be deterministic, n=" << n;
        if (kind == MaskKind::zeros) {
            EXPECT_EQ(got, 0.0);
        }

        Tensor dlogits = Tensor::empty({n}, dtype_of<T>()), g_dlogits = poisoned_cuda(gpu, {n}, dtype_of<T>());
        ops::bce_with_logits_backward(cpu, logits, targets, weights, dlogits);
        ops::bce_with_logits_backward(gpu, g_logits, g_targets, g_weights, g_dlogits);
        // The gradients are O(1/n): compare relative to their scale.
        const double scale = 1.0 / static_cast<double>(n);
        EXPECT_TRUE(all_close(host_values<T>(g_dlogits), as_doubles<T>(dlogits), tol, tol * scale))
            << "dlogits n=" << n;
    }
}

TEST(BceCuda, MatchesCpuMixedWeightsF32) { check_bce<float>(MaskKind::mixed); }
TEST(BceCuda, MatchesCpuMixedWeightsF64) { check_bce<double>(MaskKind::mixed); }
TEST(BceCuda, MatchesCpuAllWeightsF32) { check_bce<float>(MaskKind::ones); }
TEST(BceCuda, MatchesCpuAllWeightsF64) { check_bce<double>(MaskKind::ones); }
TEST(BceCuda, AllZeroWeightsGiveZeroF32) { check_bce<float>(MaskKind::zeros); }
TEST(BceCuda, AllZeroWeightsGiveZeroF64) { check_bce<double>(MaskKind::zeros); }

// Padded positions may hold any logit (their outputs are never read): with
// weight 0 they must not turn the loss or the gradient into NaN.
TEST(BceCuda, ZeroWeightIgnoresNonFiniteLogits) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context gpu(Device::cuda);
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    const Tensor logits = Tensor::from_vector<double>({0.5, nan, -inf, 2.0}, {4}).to(Device::cuda);
    const Tensor targets = Tensor::from_vector<double>({1, 0, 1, 0}, {4}).to(Device::cuda);
    const Tensor weights = Tensor::from_vector<double>({1, 0, 0, 1}, {4}).to(Device::cuda);
    const double want = (std::log1p(std::exp(-0.5)) + (2.0 + std::log1p(std::exp(-2.0)))) / 2.0;
    EXPECT_NEAR(ops::bce_with_logits_forward(gpu, logits, targets, weights), want, 1e-15);
    Tensor d = Tensor::empty({4}, DType::f64, Device::cuda);
    ops::bce_with_logits_backward(gpu, logits, targets, weights, d);
    const auto dv = d.to(Device::cpu).to_vector<double>();
    EXPECT_NEAR(dv[0], (1.0 / (1.0 + std::exp(-0.5)) - 1.0) / 2.0, 1e-15);
    EXPECT_EQ(dv[1], 0.0);
    EXPECT_EQ(dv[2], 0.0);
    EXPECT_NEAR(dv[3], (1.0 / (1.0 + std::exp(-2.0))) / 2.0, 1e-15);
}

// Several consecutive steps, so that the moments and the bias correction
// carry across calls; weight decay off and on.
template <class T> void check_adam(double weight_decay) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const double tol = sizeof(T) == 4 ? 2e-6 : 1e-14;
    ops::AdamOptions options;
    options.learning_rate = 3e-3;
    options.weight_decay = weight_decay;
    uint64_t seed = 5000;
    for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{257}, int64_t{166'000}, int64_t{0}}) {
        Tensor param = random_tensor<T>({n}, seed++);
        Tensor m = Tensor::zeros({n}, dtype_of<T>()), v = Tensor::zeros({n}, dtype_of<T>());
        Tensor g_param = param.to(Device::cuda), g_m = m.to(Device::cuda), g_v = v.to(Device::cuda);
        for (int64_t step = 1; step <= 5; ++step) {
            // Gradients of mixed scale, some exactly zero.
            std::vector<double> grad_values = test::random_values(static_cast<size_t>(n), seed++, -1.0, 1.0);
            for (size_t i = 0; i < grad_values.size(); ++i) grad_values[i] *= i % 7 == 0 ? 0.0 : i % 3 ? 1.0 : 1e-4;
            const Tensor grad = Tensor::from_vector<T>(std::vector<T>(grad_values.begin(), grad_values.end()), {n});
            ops::adam_step(cpu, param, grad, m, v, options, step);
            ops::adam_step(gpu, g_param, grad.to(Device::cuda), g_m, g_v, options, step);
        }
        EXPECT_TRUE(all_close(host_values<T>(g_param), as_doubles<T>(param), tol, tol)) << "param n=" << n;
        EXPECT_TRUE(all_close(host_values<T>(g_m), as_doubles<T>(m), tol, tol * 0.1)) << "m n=" << n;
        EXPECT_TRUE(all_close(host_values<T>(g_v), as_doubles<T>(v), tol, tol * 1e-3)) << "v n=" << n;
    }
}

TEST(AdamCuda, MatchesCpuF32) { check_adam<float>(0.0); }
TEST(AdamCuda, MatchesCpuF64) { check_adam<double>(0.0); }
TEST(AdamCuda, MatchesCpuWithWeightDecayF32) { check_adam<float>(0.01); }
TEST(AdamCuda, MatchesCpuWithWeightDecayF64) { check_adam<double>(0.01); }

}  // namespace
}  // namespace skipper
