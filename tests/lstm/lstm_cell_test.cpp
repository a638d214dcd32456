// The LSTM cell's fused kernels against plain double-precision loops written
// here, on odd shapes with padded rows, and its backward against finite
// differences of its forward.
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

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct CellShape {
    int64_t batch, hidden;
};
const CellShape kShapes[] = {{1, 1}, {3, 7}, {33, 5}, {17, 116}, {130, 129}};

// Every other row padded, the rest real (and all real for a single row).
template <class T> Tensor alternating_mask(int64_t batch) {
    std::vector<T> m(static_cast<size_t>(batch));
    for (int64_t r = 0; r < batch; ++r) m[static_cast<size_t>(r)] = (r % 3 == 1) ? T(0) : T(1);
    return Tensor::from_vector<T>(m, {batch});
}

struct ForwardReference {
    std::vector<double> act, c, h;
};

ForwardReference reference_forward(const std::vector<double>& pre, const std::vector<double>& bias,
                                   const std::vector<double>& c_prev, const std::vector<double>& h_prev,
                                   const std::vector<double>& mask, int64_t batch, int64_t hidden) {
    ForwardReference out{pre, c_prev, h_prev};
    for (int64_t r = 0; r < batch; ++r)
        for (int64_t j = 0; j < hidden; ++j) {
            const auto at = [&](int64_t gate) { return static_cast<size_t>(r * 4 * hidden + gate * hidden + j); };
            const double i = sigmoid(pre[at(0)] + bias[static_cast<size_t>(j)]);
            const double f = sigmoid(pre[at(1)] + bias[static_cast<size_t>(hidden + j)]);
            const double g = std::tanh(pre[at(2)] + bias[static_cast<size_t>(2 * hidden + j)]);
            const double o = sigmoid(pre[at(3)] + bias[static_cast<size_t>(3 * hidden + j)]);
            out.act[at(0)] = i;
            out.act[at(1)] = f;
            out.act[at(2)] = g;
            out.act[at(3)] = o;
            const auto k = static_cast<size_t>(r * hidden + j);
            if (mask[static_cast<size_t>(r)] != 0.0) {
                out.c[k] = f * c_prev[k] + i * g;
                out.h[k] = o * std::tanh(out.c[k]);
            }
        }
    return out;
}

template <class T> void check_forward(double rtol) {
    Context ctx(Device::cpu, 2);
    uint64_t seed = 100;
    for (const auto& s : kShapes) {
        Tensor gates = random_tensor<T>({s.batch, 4 * s.hidden}, seed++, -3, 3);
        Tensor bias = random_tensor<T>({4 * s.hidden}, seed++);
        Tensor c_prev = random_tensor<T>({s.batch, s.hidden}, seed++, -2, 2);
        Tensor h_prev = random_tensor<T>({s.batch, s.hidden}, seed++);
        Tensor mask = alternating_mask<T>(s.batch);
        Tensor c = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        Tensor h = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        const auto want = reference_forward(as_doubles<T>(gates), as_doubles<T>(bias), as_doubles<T>(c_prev),
                                            as_doubles<T>(h_prev), as_doubles<T>(mask), s.batch, s.hidden);
        ops::lstm_cell_forward(ctx, gates, bias, c_prev, h_prev, mask, c, h);
        EXPECT_TRUE(all_close(as_doubles<T>(gates), want.act, rtol, rtol)) << "B=" << s.batch << " H=" << s.hidden;
        EXPECT_TRUE(all_close(as_doubles<T>(c), want.c, rtol, rtol)) << "B=" << s.batch << " H=" << s.hidden;
        EXPECT_TRUE(all_close(as_doubles<T>(h), want.h, rtol, rtol)) << "B=" << s.batch << " H=" << s.hidden;
    }
}

TEST(LstmCellCpu, ForwardMatchesReferenceF32) { check_forward<float>(2e-6); }
TEST(LstmCellCpu, ForwardMatchesReferenceF64) { check_forward<double>(1e-13); }

// The backward written out from the forward's chain rule, in double.
template <class T> void check_backward(double rtol) {
    Context ctx(Device::cpu, 2);
    uint64_t seed = 200;
    for (const auto& s : kShapes) {
        Tensor gates = random_tensor<T>({s.batch, 4 * s.hidden}, seed++, -3, 3);
        Tensor bias = random_tensor<T>({4 * s.hidden}, seed++);
        Tensor c_prev = random_tensor<T>({s.batch, s.hidden}, seed++, -2, 2);
        Tensor h_prev = random_tensor<T>({s.batch, s.hidden}, seed++);
        Tensor mask = alternating_mask<T>(s.batch);
        Tensor c = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        Tensor h = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        ops::lstm_cell_forward(ctx, gates, bias, c_prev, h_prev, mask, c, h);
        Tensor dh = random_tensor<T>({s.batch, s.hidden}, seed++);
        Tensor dc = random_tensor<T>({s.batch, s.hidden}, seed++);
        Tensor dgates = Tensor::zeros({s.batch, 4 * s.hidden}, dtype_of<T>());
        Tensor dc_prev = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        Tensor dh_prev = Tensor::zeros({s.batch, s.hidden}, dtype_of<T>());
        const auto act = as_doubles<T>(gates), cp = as_doubles<T>(c_prev), cv = as_doubles<T>(c);
        const auto mv = as_doubles<T>(mask), dhv = as_doubles<T>(dh), dcv = as_doubles<T>(dc);
        std::vector<double> want_dgates(act.size()), want_dc(cp.size()), want_dh(cp.size());
        for (int64_t r = 0; r < s.batch; ++r)
            for (int64_t j = 0; j < s.hidden; ++j) {
                const auto at = [&](int64_t gate) { return static_cast<size_t>(r * 4 * s.hidden + gate * s.hidden + j); };
                const auto k = static_cast<size_t>(r * s.hidden + j);
                if (mv[static_cast<size_t>(r)] == 0.0) {
                    want_dc[k] = dcv[k];
                    want_dh[k] = dhv[k];
                    continue;
                }
                const double i = act[at(0)], f = act[at(1)], g = act[at(2)], o = act[at(3)];
                const double tc = std::tanh(cv[k]);
                const double dct = dcv[k] + dhv[k] * o * (1 - tc * tc);
                want_dgates[at(0)] = dct * g * i * (1 - i);
                want_dgates[at(1)] = dct * cp[k] * f * (1 - f);
                want_dgates[at(2)] = dct * i * (1 - g * g);
                want_dgates[at(3)] = dhv[k] * tc * o * (1 - o);
                want_dc[k] = dct * f;
                want_dh[k] = 0.0;
            }
        ops::lstm_cell_backward(ctx, gates, c_prev, c, mask, dh, dc, dgates, dc_prev, dh_prev);
        EXPECT_TRUE(all_close(as_doubles<T>(dgates), want_dgates, rtol, rtol)) << "B=" << s.batch;
        EXPECT_TRUE(all_close(as_doubles<T>(dc_prev), want_dc, rtol, rtol)) << "B=" << s.batch;
        EXPECT_TRUE(all_close(as_doubles<T>(dh_prev), want_dh, rtol, rtol)) << "B=" << s.batch;
        // In place, as the network calls it: dc_prev aliasing dc, dh_prev aliasing dh.
        ops::lstm_cell_backward(ctx, gates, c_prev, c, mask, dh, dc, dgates, dc, dh);
        EXPECT_TRUE(all_close(as_doubles<T>(dc), want_dc, rtol, rtol)) << "B=" << s.batch;
        EXPECT_TRUE(all_close(as_doubles<T>(dh), want_dh, rtol, rtol)) << "B=" << s.batch;
    }
}

TEST(LstmCellCpu, BackwardMatchesReferenceF32) { check_backward<float>(2e-6); }
TEST(LstmCellCpu, BackwardMatchesReferenceF64) { check_backward<double>(1e-13); }

// loss = sum(a * h + b * c) over one step; its gradient with respect to the
// pre-activations, c_prev and h_prev by central differences.
TEST(LstmCellCpu, BackwardMatchesFiniteDifferences) {
    Context ctx(Device::cpu, 1);
    const int64_t batch = 4, hidden = 3;
    const Tensor pre = random_tensor<double>({batch, 4 * hidden}, 7, -2, 2);
    const Tensor bias = random_tensor<double>({4 * hidden}, 8);
    const Tensor c_prev = random_tensor<double>({batch, hidden}, 9);
    const Tensor h_prev = random_tensor<double>({batch, hidden}, 10);
    const Tensor mask = Tensor::from_vector<double>({1, 0, 1, 1}, {batch});
    const auto a = test::random_values(static_cast<size_t>(batch * hidden), 11);
    const auto b = test::random_values(static_cast<size_t>(batch * hidden), 12);
    auto loss = [&](const Tensor& p, const Tensor& cp, const Tensor& hp) {
        Tensor g = p.clone();
        Tensor c = Tensor::zeros({batch, hidden}, DType::f64), h = Tensor::zeros({batch, hidden}, DType::f64);
        ops::lstm_cell_forward(ctx, g, bias, cp, hp, mask, c, h);
        const auto cv = c.to_vector<double>(), hv = h.to_vector<double>();
        double total = 0.0;
        for (size_t k = 0; k < cv.size(); ++k) total += a[k] * hv[k] + b[k] * cv[k];
        return total;
    };
    Tensor gates = pre.clone();
    Tensor c = Tensor::zeros({batch, hidden}, DType::f64), h = Tensor::zeros({batch, hidden}, DType::f64);
    ops::lstm_cell_forward(ctx, gates, bias, c_prev, h_prev, mask, c, h);
    Tensor dh = Tensor::from_vector<double>(a, {batch, hidden});
    Tensor dc = Tensor::from_vector<double>(b, {batch, hidden});
    Tensor dgates = Tensor::zeros({batch, 4 * hidden}, DType::f64);
    Tensor dc_prev = Tensor::zeros({batch, hidden}, DType::f64), dh_prev = Tensor::zeros({batch, hidden}, DType::f64);
    ops::lstm_cell_backward(ctx, gates, c_prev, c, mask, dh, dc, dgates, dc_prev, dh_prev);
    // h_prev reaches h only through the carried rows here (W_hh is outside the cell).
    const double eps = 1e-6;
    auto numeric = [&](const Tensor& x, int which) {
        std::vector<double> grad(static_cast<size_t>(x.numel()));
        for (int64_t k = 0; k < x.numel(); ++k) {
            Tensor up = x.clone(), down = x.clone();
            up.data<double>()[k] += eps;
            down.data<double>()[k] -= eps;
            const double lu = which == 0 ? loss(up, c_prev, h_prev) : which == 1 ? loss(pre, up, h_prev) : loss(pre, c_prev, up);
            const double ld = which == 0 ? loss(down, c_prev, h_prev) : which == 1 ? loss(pre, down, h_prev) : loss(pre, c_prev, down);
            grad[static_cast<size_t>(k)] = (lu - ld) / (2 * eps);
        }
        return grad;
    };
    EXPECT_TRUE(all_close(dgates.to_vector<double>(), numeric(pre, 0), 1e-7, 1e-8));
    EXPECT_TRUE(all_close(dc_prev.to_vector<double>(), numeric(c_prev, 1), 1e-7, 1e-8));
    EXPECT_TRUE(all_close(dh_prev.to_vector<double>(), numeric(h_prev, 2), 1e-7, 1e-8));
}

TEST(LstmCellCpu, RejectsMismatchedShapes) {
    Context ctx(Device::cpu, 1);
    Tensor gates = Tensor::zeros({2, 8}, DType::f32);
    Tensor bias = Tensor::zeros({8}, DType::f32);
    Tensor state = Tensor::zeros({2, 2}, DType::f32);
    Tensor wrong = Tensor::zeros({2, 3}, DType::f32);
    Tensor mask = Tensor::zeros({2}, DType::f32);
    EXPECT_THROW(ops::lstm_cell_forward(ctx, gates, bias, state, wrong, mask, state, state), Error);
    Tensor f64_mask = Tensor::zeros({2}, DType::f64);
    EXPECT_THROW(ops::lstm_cell_forward(ctx, gates, bias, state, state, f64_mask, state, state), Error);
}

TEST(AddBiasCpu, AddsToEveryRow) {
    Context ctx(Device::cpu, 2);
    Tensor x = random_tensor<float>({301, 117}, 3);
    Tensor bias = random_tensor<float>({117}, 4);
    auto want = as_doubles<float>(x);
    const auto bv = as_doubles<float>(bias);
    for (size_t k = 0; k < want.size(); ++k) want[k] += bv[k % 117];
    ops::add_bias(ctx, x, bias);
    EXPECT_TRUE(all_close(as_doubles<float>(x), want, 1e-6, 1e-6));
}

}  // namespace
}  // namespace skipper
