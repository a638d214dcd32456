// Adam against its formula (Kingma & Ba, with torch.optim.Adam's arithmetic),
// over several steps, with and without weight decay.
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

template <class T> void check_steps(const ops::AdamOptions& options, int64_t n, double rtol) {
    Context ctx(Device::cpu, 2);
    Tensor param = random_tensor<T>({n}, 1);
    Tensor m = Tensor::zeros({n}, dtype_of<T>()), v = Tensor::zeros({n}, dtype_of<T>());
    auto p_ref = as_doubles<T>(param);
    std::vector<double> m_ref(p_ref.size(), 0.0), v_ref(p_ref.size(), 0.0);
    for (int64_t step = 1; step <= 4; ++step) {
        Tensor grad = random_tensor<T>({n}, 10 + static_cast<uint64_t>(step), -2, 2);
        const auto g = as_doubles<T>(grad);
        for (size_t i = 0; i < p_ref.size(); ++i) {
            const double gi = g[i] + options.weight_decay * p_ref[i];
            m_ref[i] = options.beta1 * m_ref[i] + (1 - options.beta1) * gi;
            v_ref[i] = options.beta2 * v_ref[i] + (1 - options.beta2) * gi * gi;
            const double m_hat = m_ref[i] / (1 - std::pow(options.beta1, step));
            const double v_hat = v_ref[i] / (1 - std::pow(options.beta2, step));
            p_ref[i] -= options.learning_rate * m_hat / (std::sqrt(v_hat) + options.epsilon);
        }
        ops::adam_step(ctx, param, grad, m, v, options, step);
        EXPECT_TRUE(all_close(as_doubles<T>(param), p_ref, rtol, rtol)) << "step " << step;
        EXPECT_TRUE(all_close(as_doubles<T>(m), m_ref, rtol, rtol)) << "step " << step;
        EXPECT_TRUE(all_close(as_doubles<T>(v), v_ref, rtol, rtol)) << "step " << step;
    }
}

TEST(AdamCpu, MatchesFormulaF64) {
    check_steps<double>(ops::AdamOptions{}, 1000, 1e-12);
    check_steps<double>(ops::AdamOptions{0.01, 0.8, 0.99, 1e-8, 0.1}, 70000, 1e-12);
}

TEST(AdamCpu, MatchesFormulaF32) {
    check_steps<float>(ops::AdamOptions{}, 1001, 1e-5);
    check_steps<float>(ops::AdamOptions{0.01, 0.8, 0.99, 1e-8, 0.1}, 70001, 1e-5);
}

TEST(AdamCpu, FirstStepMovesEachWeightByTheLearningRate) {
    // With bias correction, step 1 moves every weight by lr * g / (|g| + eps).
    Context ctx(Device::cpu, 1);
    Tensor param = Tensor::from_vector<double>({1.0, 2.0, 3.0}, {3});
    Tensor grad = Tensor::from_vector<double>({0.5, -4.0, 1e-3}, {3});
    Tensor m = Tensor::zeros({3}, DType::f64), v = Tensor::zeros({3}, DType::f64);
    ops::AdamOptions options;
    options.learning_rate = 0.1;
    options.epsilon = 0.0;
    ops::adam_step(ctx, param, grad, m, v, options, 1);
    EXPECT_TRUE(all_close(param.to_vector<double>(), {0.9, 2.1, 2.9}, 1e-12, 1e-12));
}

TEST(AdamCpu, RejectsStepZeroAndMismatchedMoments) {
    Context ctx(Device::cpu, 1);
    Tensor p = Tensor::zeros({3}, DType::f32), g = Tensor::zeros({3}, DType::f32);
    Tensor m = Tensor::zeros({3}, DType::f32), v = Tensor::zeros({2}, DType::f32);
    EXPECT_THROW(ops::adam_step(ctx, p, g, m, m, {}, 0), Error);
    EXPECT_THROW(ops::adam_step(ctx, p, g, m, v, {}, 1), Error);
}

}  // namespace
}  // namespace skipper
