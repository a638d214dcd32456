// The GBDT's per-row gradient op against a plain double loop written here:
// logloss_gradients (its vectorized exp) within float rounding of the exact
// sigmoid, its extent the exact maximum of what it wrote, and the same bits
// for 1, 2 and 3 threads; quantize_gradients exactly as its definition reads;
// leaf_add_scores exactly as a plain loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/context.h"
#include "engine/gbdt_ops.h"

namespace skipper {
namespace {

TEST(LoglossGradients, MatchesTheDoubleSigmoid) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(-30.0, 30.0);
    std::vector<double> scores;
    // Both signs, zero, tiny and huge scores (the exp's clamp at -87 and past it).
    for (double s : {0.0, -0.0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 20.0, -20.0, 86.9, -86.9, 87.5, -87.5, 200.0, -200.0, 1e6, -1e6})
        scores.push_back(s);
    while (scores.size() < 10007) scores.push_back(u(rng) * (rng() % 4 == 0 ? 0.01 : 1.0));
    const auto n = static_cast<int64_t>(scores.size());
    std::vector<float> labels(scores.size());
    for (auto& y : labels) y = static_cast<float>(rng() % 2);
    const Tensor y = Tensor::from_vector<float>(labels, {n}), s = Tensor::from_vector<double>(scores, {n});

    std::vector<float> first_g, first_h;
    for (const int threads : {1, 2, 3}) {
        Context ctx(Device::cpu, threads);
        Tensor g = Tensor::empty({n}, DType::f32), h = Tensor::empty({n}, DType::f32);
        const ops::GradientExtent extent = ops::logloss_gradients(ctx, y, s, g, h);
        const auto gv = g.to_vector<float>(), hv = h.to_vector<float>();
        double g_max = 0.0, h_max = 0.0;
        for (int64_t r = 0; r < n; ++r) {
            // The score is used in float, as the op does.
            const double x = static_cast<float>(scores[static_cast<size_t>(r)]);
            // p(1 - p) as e / (1 + e)^2 with e = exp(-|x|): 1 - p itself
            // cancels for large x.
            const double e = std::exp(-std::fabs(x));
            const double p = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            const double want_g = p - labels[static_cast<size_t>(r)], want_h = e / ((1.0 + e) * (1.0 + e));
            ASSERT_NEAR(gv[static_cast<size_t>(r)], want_g, 4e-7 * std::max(1.0, std::fabs(want_g))) << "score " << x;
            ASSERT_NEAR(hv[static_cast<size_t>(r)], want_h, 4e-7 * want_h + 1e-37) << "score " << x;
            g_max = std::max(g_max, static_cast<double>(std::fabs(gv[static_cast<size_t>(r)])));
            h_max = std::max(h_max, static_cast<double>(hv[static_cast<size_t>(r)]));
        }
        EXPECT_EQ(extent.max_abs_gradient, g_max);
        EXPECT_EQ(extent.max_hessian, h_max);
        if (threads == 1) {
            first_g = gv;
            first_h = hv;
        } else {
            EXPECT_EQ(gv, first_g);
            EXPECT_EQ(hv, first_h);
        }
    }
}

// quantize_gradients against the plain loop of its definition, for every
// kind of rounding and row key (each its own compiled loop), odd row counts
// (the vector loop's tail) and 1, 2, 3 threads.
TEST(QuantizeGradients, MatchesThePlainLoop) {
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (const int64_t n : {1, 17, 10007}) {
        std::vector<float> gradients(static_cast<size_t>(n)), hessians(static_cast<size_t>(n));
        std::vector<uint64_t> keys(static_cast<size_t>(n));
        for (int64_t r = 0; r < n; ++r) {
            gradients[static_cast<size_t>(r)] = u(rng);
            hessians[static_cast<size_t>(r)] = 0.25f * std::abs(u(rng));
            keys[static_cast<size_t>(r)] = rng();
        }
        const Tensor g = Tensor::from_vector<float>(gradients, {n}), h = Tensor::from_vector<float>(hessians, {n});
        const int64_t quant_bins = 4;
        const ops::QuantScale scale = ops::quant_scale({1.0, 0.25}, quant_bins);
        const uint64_t seed = 77;
        for (const bool stochastic : {false, true})
            for (const bool with_keys : {false, true}) {
                std::vector<int32_t> want(static_cast<size_t>(n));
                for (int64_t r = 0; r < n; ++r) {
                    double ug = 0.5, uh = 0.5;
                    if (stochastic) {
                        const uint64_t key = with_keys ? keys[static_cast<size_t>(r)] : static_cast<uint64_t>(r);
                        const uint64_t bits = counter_hash(seed, key);
                        ug = static_cast<double>(bits >> 32) / 4294967296.0;
                        uh = static_cast<double>(bits & 0xffffffffu) / 4294967296.0;
                    }
                    const double g_r = gradients[static_cast<size_t>(r)], h_r = hessians[static_cast<size_t>(r)];
                    const double gq = std::floor(g_r * (1.0 / scale.gradient) + ug);
                    const double hq = std::floor(h_r * (1.0 / scale.hessian) + uh);
                    const auto gi = static_cast<int32_t>(std::clamp(gq, -2.0, 2.0));
                    const auto hi = static_cast<int32_t>(std::clamp(hq, 0.0, 4.0));
                    want[static_cast<size_t>(r)] = gi * 65536 + hi;
                }
                for (const int threads : {1, 2, 3}) {
                    Context ctx(Device::cpu, threads);
                    Tensor q = Tensor::empty({n}, DType::i32);
                    const auto row_keys = with_keys ? std::span<const uint64_t>(keys) : std::span<const uint64_t>();
                    ops::quantize_gradients(ctx, g, h, row_keys, seed, stochastic, scale, quant_bins, q);
                    EXPECT_EQ(q.to_vector<int32_t>(), want)
                        << "n=" << n << " stochastic=" << stochastic << " keys=" << with_keys << " threads=" << threads;
                }
            }
    }
}

// leaf_add_scores against the plain loop: leaves over every row (the
// row-order pass), over a subset (a bag) and more leaves than a byte holds.
TEST(LeafAddScores, MatchesThePlainLoop) {
    std::mt19937_64 rng(13);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    struct Case {
        int64_t rows, in_leaves, leaves;
    };
    for (const Case c : {Case{1000, 1000, 31}, Case{1000, 1000, 256}, Case{1000, 700, 31}, Case{5000, 5000, 300}}) {
        std::vector<int32_t> order(static_cast<size_t>(c.rows));
        for (int64_t r = 0; r < c.rows; ++r) order[static_cast<size_t>(r)] = static_cast<int32_t>(r);
        std::shuffle(order.begin(), order.end(), rng);
        order.resize(static_cast<size_t>(c.in_leaves));
        std::vector<int64_t> begin(static_cast<size_t>(c.leaves)), count(static_cast<size_t>(c.leaves));
        std::vector<double> values(static_cast<size_t>(c.leaves)), scores(static_cast<size_t>(c.rows));
        for (auto& v : values) v = u(rng);
        for (auto& v : scores) v = u(rng);
        for (int64_t l = 0; l < c.leaves; ++l) {
            begin[static_cast<size_t>(l)] = c.in_leaves * l / c.leaves;
            count[static_cast<size_t>(l)] = c.in_leaves * (l + 1) / c.leaves - begin[static_cast<size_t>(l)];
        }
        std::vector<double> want = scores;
        for (int64_t l = 0; l < c.leaves; ++l)
            for (int64_t i = 0; i < count[static_cast<size_t>(l)]; ++i)
                want[static_cast<size_t>(order[static_cast<size_t>(begin[static_cast<size_t>(l)] + i)])] +=
                    values[static_cast<size_t>(l)];
        for (const int threads : {1, 3}) {
            Context ctx(Device::cpu, threads);
            Tensor got = Tensor::from_vector<double>(scores, {c.rows});
            ops::leaf_add_scores(ctx, Tensor::from_vector<int32_t>(order, {c.in_leaves}), begin, count,
                                 Tensor::from_vector<double>(values, {c.leaves}), got);
            EXPECT_EQ(got.to_vector<double>(), want) << "rows=" << c.rows << " leaves=" << c.leaves;
        }
    }
}

}  // namespace
}  // namespace skipper
