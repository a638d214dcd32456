// The persistent small-H recurrent kernel (kernels/cuda/lstm_persistent.cu)
// against the standard algorithm of ops::lstm_recurrent_forward on the CPU.
// Everywhere: the kernel's own per-element code and work split
// (kernels/cuda/lstm_persistent_plan.h) run on the CPU block by block, step by
// step, with the cluster's h exchange emulated by one buffer per tile; and the
// split's shared-memory budget for every H up to 192. On a GPU of compute
// capability 9.0 or newer: the kernel itself.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "kernels/cuda/lstm_persistent_plan.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

namespace plan_ns = lstm_persistent;
using test::all_close;
using test::as_doubles;

struct Problem {
    int64_t steps, batch, hidden;
    Tensor w_hh, bias, mask, gates, h, c;  // host, f32
};

// Random weights at the network's scale, input projections, ragged masks
// (right-padded lengths in [1, T]), zero initial state.
Problem make_problem(int64_t steps, int64_t batch, int64_t hidden, uint64_t seed) {
    Problem p{steps, batch, hidden, {}, {}, {}, {}, {}, {}};
    const double limit = 1.0 / std::sqrt(static_cast<double>(hidden));
    p.w_hh = test::random_tensor<float>({4 * hidden, hidden}, seed, -limit, limit);
    p.bias = test::random_tensor<float>({4 * hidden}, seed + 1, -0.5, 0.5);
    p.gates = test::random_tensor<float>({steps, batch, 4 * hidden}, seed + 2, -1.5, 1.5);
    std::mt19937_64 rng(seed + 3);
    std::vector<float> mask(static_cast<size_t>(steps * batch), 0.0f);
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t length = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(steps));
        for (int64_t t = 0; t < length; ++t) mask[static_cast<size_t>(t * batch + b)] = 1.0f;
    }
    p.mask = Tensor::from_vector<float>(mask, {steps, batch});
    p.h = Tensor::zeros({steps + 1, batch, hidden}, DType::f32);
    p.c = Tensor::zeros({steps + 1, batch, hidden}, DType::f32);
    return p;
}

struct Result {
    std::vector<double> gates, h, c;
};

Result standard_on_cpu(const Problem& p, bool reverse) {
    Context cpu(Device::cpu, 2);
    Tensor gates = p.gates.clone(), h = p.h.clone(), c = p.c.clone();
    ops::lstm_recurrent_forward(cpu, p.w_hh, p.bias, p.mask, reverse, gates, h, c);
    return {as_doubles<float>(gates), as_doubles<float>(h), as_doubles<float>(c)};
}

// The kernel's schedule on the CPU: per cluster tile, every block loads its
// weight slice and its units' c; per step every block runs thread_step for
// each (group of rows, unit) item reading h_cur, all pushes land in h_next,
// then the swap (the cluster barrier).
Result emulate_kernel(const Problem& p, bool reverse, int64_t sms) {
    const plan_ns::Plan plan = plan_ns::make_plan(p.batch, p.hidden, sms);
    EXPECT_TRUE(plan.ok);
    Tensor gates = p.gates.clone(), h = p.h.clone(), c = p.c.clone();
    const int64_t hidden = p.hidden, units = plan.units, rows = plan.rows;
    const int64_t init_slot = reverse ? p.steps : 0;
    for (int64_t tile = 0; tile < plan.clusters; ++tile) {
        const int64_t first_row = tile * rows;
        const int64_t tile_rows = std::min(rows, p.batch - first_row);
        std::vector<std::vector<float>> w_s(static_cast<size_t>(plan.cluster)), c_units(w_s.size());
        for (int64_t rank = 0; rank < plan.cluster; ++rank) {
            auto& w = w_s[static_cast<size_t>(rank)];
            w.resize(static_cast<size_t>(hidden * 4 * units));
            for (int64_t idx = 0; idx < hidden * 4 * units; ++idx)
                w[static_cast<size_t>(idx)] =
                    plan_ns::weight_slice_element(p.w_hh.data<float>(), hidden, units, rank, idx);
            auto& cu = c_units[static_cast<size_t>(rank)];
            cu.assign(static_cast<size_t>(rows * units), 0.0f);
            for (int64_t row = 0; row < tile_rows; ++row)
                for (int64_t unit = 0; unit < units && rank * units + unit < hidden; ++unit)
                    cu[static_cast<size_t>(row * units + unit)] =
                        c.data<float>()[(init_slot * p.batch + first_row + row) * hidden + rank * units + unit];
        }
        std::vector<float> h_cur(static_cast<size_t>(rows * hidden), 0.0f), h_next(h_cur.size(), 0.0f);
        for (int64_t row = 0; row < tile_rows; ++row)
            for (int64_t k = 0; k < hidden; ++k)
                h_cur[static_cast<size_t>(row * hidden + k)] =
                    h.data<float>()[(init_slot * p.batch + first_row + row) * hidden + k];
        for (int64_t s = 0; s < p.steps; ++s) {
            for (int64_t rank = 0; rank < plan.cluster; ++rank) {
                plan_ns::StepArgs args{w_s[static_cast<size_t>(rank)].data(), p.bias.data<float>(),
                                       p.mask.data<float>(), gates.data<float>(), h.data<float>(), c.data<float>(),
                                       p.batch, hidden, units, rank, first_row,
                                       plan_ns::time_of(s, p.steps, reverse), reverse, s > 0};
                const int64_t groups = (tile_rows + plan_ns::kRowsPerThread - 1) / plan_ns::kRowsPerThread;
                for (int64_t item = 0; item < groups * units; ++item) {
                    const int64_t row0 = item / units * plan_ns::kRowsPerThread, unit = item % units;
                    if (rank * units + unit >= hidden) continue;
                    const int64_t count = std::min(plan_ns::kRowsPerThread, tile_rows - row0);
                    float h_out[plan_ns::kRowsPerThread];
                    plan_ns::thread_step(args, h_cur.data(), c_units[static_cast<size_t>(rank)].data(), row0, count,
                                         unit, h_out);
                    for (int64_t r = 0; r < count; ++r)
                        h_next[static_cast<size_t>((row0 + r) * hidden + rank * units + unit)] = h_out[r];
                }
            }
            std::swap(h_cur, h_next);
        }
    }
    return {as_doubles<float>(gates), as_doubles<float>(h), as_doubles<float>(c)};
}

// f32 with a different summation order of each H-term product, compounded
// over at most 13 steps through a contracting recurrence (|f| < 1, tanh):
// the differences stay at a few ulps of O(1) values.
constexpr double kRtol = 1e-4, kAtol = 1e-5;

void expect_match(const Result& got, const Result& want, const std::string& what) {
    EXPECT_TRUE(all_close(got.gates, want.gates, kRtol, kAtol)) << what << ": gates";
    EXPECT_TRUE(all_close(got.h, want.h, kRtol, kAtol)) << what << ": h";
    EXPECT_TRUE(all_close(got.c, want.c, kRtol, kAtol)) << what << ": c";
}

struct Shape3 {
    int64_t steps, batch, hidden;
};
// The session's H = 116 (a cluster of 2), the largest H = 192 (4), odd sizes
// with a partial last block and a partial last tile.
const Shape3 kShapes[] = {{13, 67, 116}, {5, 9, 192}, {7, 33, 29}, {4, 3, 7}, {11, 130, 116}};

TEST(LstmPersistentPlan, KernelScheduleOnTheCpuMatchesTheStandardAlgorithm) {
    uint64_t seed = 1;
    for (const auto& s : kShapes)
        for (bool reverse : {false, true})
            for (int64_t sms : {int64_t{132}, int64_t{8}}) {
                const Problem p = make_problem(s.steps, s.batch, s.hidden, seed += 10);
                expect_match(emulate_kernel(p, reverse, sms), standard_on_cpu(p, reverse),
                             "T=" + std::to_string(s.steps) + " B=" + std::to_string(s.batch) +
                                 " H=" + std::to_string(s.hidden) + (reverse ? " reverse" : " forward") +
                                 " sms=" + std::to_string(sms));
            }
}

TEST(LstmPersistentPlan, EverySmallHFitsTheSharedMemoryAndCoversUnitsAndRows) {
    for (int64_t hidden = 1; hidden <= plan_ns::kMaxHidden; ++hidden)
        for (int64_t batch : {int64_t{1}, int64_t{67}, int64_t{1000}, int64_t{4096}})
            for (int64_t sms : {int64_t{108}, int64_t{132}}) {
                const plan_ns::Plan plan = plan_ns::make_plan(batch, hidden, sms);
                ASSERT_TRUE(plan.ok) << "H=" << hidden << " B=" << batch;
                EXPECT_LE(plan.shared_bytes, plan_ns::kSharedBudget);
                EXPECT_LE(plan.cluster, plan_ns::kMaxClusterBlocks);
                EXPECT_GE(plan.cluster * plan.units, hidden);
                EXPECT_LT((plan.cluster - 1) * plan.units, hidden) << "an empty block";
                EXPECT_GE(plan.clusters * plan.rows, batch);
                EXPECT_LT((plan.clusters - 1) * plan.rows, batch) << "an empty tile";
            }
    EXPECT_FALSE(plan_ns::make_plan(1000, plan_ns::kMaxHidden + 1, 132).ok);
    // H = 116: one direction's W_hh (215 KB) split over a cluster of two.
    const plan_ns::Plan session = plan_ns::make_plan(1000, 116, 132);
    EXPECT_EQ(session.cluster, 2);
    EXPECT_EQ(session.units, 58);
}

TEST(LstmRecurrentForward, PersistentIsRefusedWhereItCannotRun) {
    Context cpu(Device::cpu, 1);
    EXPECT_TRUE(ops::lstm_recurrent_algorithm_available(cpu, ops::RecurrentAlgorithm::standard, DType::f64, 5, 7));
    EXPECT_FALSE(
        ops::lstm_recurrent_algorithm_available(cpu, ops::RecurrentAlgorithm::persist_small_h, DType::f32, 5, 7));
    Problem p = make_problem(3, 5, 7, 99);
    EXPECT_THROW(ops::lstm_recurrent_forward(cpu, p.w_hh, p.bias, p.mask, false, p.gates, p.h, p.c,
                                             ops::RecurrentAlgorithm::persist_small_h),
                 Error);
    EXPECT_EQ(ops::parse_recurrent_algorithm("persist_small_h"), ops::RecurrentAlgorithm::persist_small_h);
    EXPECT_THROW(ops::parse_recurrent_algorithm("fast"), ParamError);
}

Result on_cuda(const Problem& p, bool reverse, ops::RecurrentAlgorithm algorithm) {
    Context gpu(Device::cuda);
    Tensor w = p.w_hh.to(Device::cuda), bias = p.bias.to(Device::cuda), mask = p.mask.to(Device::cuda);
    Tensor gates = p.gates.to(Device::cuda), h = p.h.to(Device::cuda), c = p.c.to(Device::cuda);
    ops::lstm_recurrent_forward(gpu, w, bias, mask, reverse, gates, h, c, algorithm);
    return {test::host_values<float>(gates), test::host_values<float>(h), test::host_values<float>(c)};
}

TEST(LstmRecurrentForwardCuda, BothAlgorithmsMatchTheCpuReference) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context probe(Device::cuda);
    uint64_t seed = 500;
    for (const auto& s : kShapes)
        for (bool reverse : {false, true}) {
            const Problem p = make_problem(s.steps, s.batch, s.hidden, seed += 10);
            const Result want = standard_on_cpu(p, reverse);
            const std::string what = "H=" + std::to_string(s.hidden) + (reverse ? " reverse" : " forward");
            expect_match(on_cuda(p, reverse, ops::RecurrentAlgorithm::standard), want, what + " standard");
            if (!ops::lstm_recurrent_algorithm_available(probe, ops::RecurrentAlgorithm::persist_small_h, DType::f32,
                                                         s.batch, s.hidden)) {
                GTEST_SKIP() << "persist_small_h needs compute capability 9.0 (this device: not offered)";
            }
            expect_match(on_cuda(p, reverse, ops::RecurrentAlgorithm::persist_small_h), want, what + " persistent");
        }
}

}  // namespace
}  // namespace skipper
