// The cell arithmetic the CUDA kernels run (kernels/cuda/lstm_cell_math.h),
// compiled here for the host: checked against a plain double-precision
// reference written in this test and, for the backward pass, against finite
// differences. Runs on every machine, GPU or not.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cuda/lstm_cell_math.h"

namespace skipper {
namespace {

struct ReferenceStep {
    double i, f, g, o, c, h;
};

ReferenceStep reference_forward(const double pre[4], double c_prev, double h_prev, bool real_step) {
    ReferenceStep s{};
    s.i = 1.0 / (1.0 + std::exp(-pre[0]));
    s.f = 1.0 / (1.0 + std::exp(-pre[1]));
    s.g = std::tanh(pre[2]);
    s.o = 1.0 / (1.0 + std::exp(-pre[3]));
    s.c = real_step ? s.f * c_prev + s.i * s.g : c_prev;
    s.h = real_step ? s.o * std::tanh(s.c) : h_prev;
    return s;
}

// The scalar whose gradient the backward pass computes: dh . h_t + dc . c_t.
double objective(const double pre[4], double c_prev, double h_prev, bool real_step, double dh, double dc) {
    const ReferenceStep s = reference_forward(pre, c_prev, h_prev, real_step);
    return dh * s.h + dc * s.c;
}

struct Draw {
    double pre[4], c_prev, h_prev, dh, dc;
};

Draw draw(std::mt19937_64& rng, double pre_range) {
    std::uniform_real_distribution<double> pre(-pre_range, pre_range), unit(-1.0, 1.0), cell(-3.0, 3.0);
    Draw d{};
    for (double& p : d.pre) p = pre(rng);
    d.c_prev = cell(rng);
    d.h_prev = unit(rng);
    d.dh = unit(rng);
    d.dc = unit(rng);
    return d;
}

template <class T> void check_forward(double rtol) {
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 2000; ++trial) {
        const bool real_step = trial % 5 != 0;
        const Draw d = draw(rng, trial % 2 ? 4.0 : 30.0);
        // Round the inputs to T first, so the reference sees what the kernel sees.
        double pre[4];
        for (int k = 0; k < 4; ++k) pre[k] = static_cast<T>(d.pre[k]);
        const T c_prev = static_cast<T>(d.c_prev), h_prev = static_cast<T>(d.h_prev);
        const ReferenceStep want = reference_forward(pre, c_prev, h_prev, real_step);
        const auto got = lstm_math::cell_forward<T>(T(pre[0]), T(pre[1]), T(pre[2]), T(pre[3]), c_prev, h_prev,
                                                    real_step);
        const double tolerance_scale = 1.0 + std::fabs(want.c);
        EXPECT_NEAR(got.i, want.i, rtol) << trial;
        EXPECT_NEAR(got.f, want.f, rtol) << trial;
        EXPECT_NEAR(got.g, want.g, rtol) << trial;
        EXPECT_NEAR(got.o, want.o, rtol) << trial;
        EXPECT_NEAR(got.c, want.c, rtol * tolerance_scale) << trial;
        EXPECT_NEAR(got.h, want.h, rtol * tolerance_scale) << trial;
        if (!real_step) {
            EXPECT_EQ(got.c, c_prev) << "a padded step carries c exactly";
            EXPECT_EQ(got.h, h_prev) << "a padded step carries h exactly";
        }
    }
}

TEST(LstmCellMath, ForwardMatchesReferenceF64) { check_forward<double>(1e-15); }
TEST(LstmCellMath, ForwardMatchesReferenceF32) { check_forward<float>(1e-6); }

TEST(LstmCellMath, SaturatedGatesGiveFiniteValues) {
    for (double pre : {-1e4, -100.0, -89.0, 89.0, 100.0, 1e4}) {
        const auto f = lstm_math::cell_forward<float>(float(pre), float(pre), float(pre), float(pre), 2.0f, 0.5f, true);
        const auto d = lstm_math::cell_forward<double>(pre, pre, pre, pre, 2.0, 0.5, true);
        for (double v : {double(f.i), double(f.f), double(f.g), double(f.o), double(f.c), double(f.h), d.i, d.f, d.g,
                         d.o, d.c, d.h})
            EXPECT_TRUE(std::isfinite(v)) << "pre-activation " << pre;
        EXPECT_EQ(f.i, pre > 0 ? 1.0f : 0.0f);
        EXPECT_EQ(f.g, pre > 0 ? 1.0f : -1.0f);
    }
}

// Central differences of the reference objective in double against the
// backward formulas in double: the formulas, not rounding, are under test.
TEST(LstmCellMath, BackwardMatchesFiniteDifferences) {
    std::mt19937_64 rng(12);
    const double step = 1e-6;
    for (int trial = 0; trial < 500; ++trial) {
        const bool real_step = trial % 4 != 0;
        Draw d = draw(rng, 3.0);
        const ReferenceStep s = reference_forward(d.pre, d.c_prev, d.h_prev, real_step);
        const auto got = lstm_math::cell_backward<double>(s.i, s.f, s.g, s.o, d.c_prev, s.c, d.dh, d.dc, real_step);
        const double analytic[4] = {got.di, got.df, got.dg, got.d_o};
        for (int k = 0; k < 4; ++k) {
            Draw up = d, down = d;
            up.pre[k] += step;
            down.pre[k] -= step;
            const double numeric = (objective(up.pre, d.c_prev, d.h_prev, real_step, d.dh, d.dc) -
                                    objective(down.pre, d.c_prev, d.h_prev, real_step, d.dh, d.dc)) /
                                   (2 * step);
            EXPECT_NEAR(analytic[k], numeric, 1e-8) << "gate " << k << " trial " << trial;
        }
        const double dc_numeric = (objective(d.pre, d.c_prev + step, d.h_prev, real_step, d.dh, d.dc) -
                                   objective(d.pre, d.c_prev - step, d.h_prev, real_step, d.dh, d.dc)) /
                                  (2 * step);
        EXPECT_NEAR(got.dc_prev, dc_numeric, 1e-8) << "trial " << trial;
        // Through the cell alone, h_{t-1} reaches the objective only when the
        // step is padded (the carry); a real step's path runs through W_hh,
        // which the caller's product adds.
        const double dh_numeric = (objective(d.pre, d.c_prev, d.h_prev + step, real_step, d.dh, d.dc) -
                                   objective(d.pre, d.c_prev, d.h_prev - step, real_step, d.dh, d.dc)) /
                                  (2 * step);
        EXPECT_NEAR(got.dh_prev, dh_numeric, 1e-8) << "trial " << trial;
        if (!real_step) {
            EXPECT_EQ(got.di, 0.0);
            EXPECT_EQ(got.df, 0.0);
            EXPECT_EQ(got.dg, 0.0);
            EXPECT_EQ(got.d_o, 0.0);
            EXPECT_EQ(got.dc_prev, d.dc);
            EXPECT_EQ(got.dh_prev, d.dh);
        }
    }
}

TEST(LstmCellMath, BackwardF32TracksF64) {
    std::mt19937_64 rng(13);
    for (int trial = 0; trial < 2000; ++trial) {
        const bool real_step = trial % 3 != 0;
        const Draw d = draw(rng, 5.0);
        const auto s32 = lstm_math::cell_forward<float>(float(d.pre[0]), float(d.pre[1]), float(d.pre[2]),
                                                        float(d.pre[3]), float(d.c_prev), float(d.h_prev), real_step);
        const auto b32 = lstm_math::cell_backward<float>(s32.i, s32.f, s32.g, s32.o, float(d.c_prev), s32.c,
                                                         float(d.dh), float(d.dc), real_step);
        const auto b64 = lstm_math::cell_backward<double>(s32.i, s32.f, s32.g, s32.o, float(d.c_prev), s32.c,
                                                          float(d.dh), float(d.dc), real_step);
        EXPECT_NEAR(b32.di, b64.di, 1e-6) << trial;
        EXPECT_NEAR(b32.df, b64.df, 1e-6) << trial;
        EXPECT_NEAR(b32.dg, b64.dg, 1e-6) << trial;
        EXPECT_NEAR(b32.d_o, b64.d_o, 1e-6) << trial;
        EXPECT_NEAR(b32.dc_prev, b64.dc_prev, 1e-6) << trial;
        EXPECT_NEAR(b32.dh_prev, b64.dh_prev, 1e-6) << trial;
    }
}

}  // namespace
}  // namespace skipper
