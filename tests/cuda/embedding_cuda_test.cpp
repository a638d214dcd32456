// The embedding op pair on CUDA against its CPU twin through the engine API,
// f32 and f64: the gather bit for bit; the backward pass (a stable sort of the
// indices and a per-row segment sum, no float atomics) bit for bit as well,
// since both sum each row in increasing m, and the same on a second run.
// Device outputs are poisoned with NaN first. Skipped without a usable GPU.
#include <gtest/gtest.h>

#include <random>

#include "engine/lstm_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::host_values;
using test::poisoned_cuda;
using test::random_tensor;

template <class T> void check_embedding() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    uint64_t seed = 500;
    for (const auto& [n, rows, dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {2560, 65536, 16},
                                       {40000, 97, 8}, {0, 5, 4}}) {
        std::mt19937_64 rng(seed++);
        std::uniform_int_distribution<int32_t> dist(-1, static_cast<int32_t>(rows - 1));
        std::vector<int32_t> idx(static_cast<size_t>(n));
        for (auto& x : idx) x = dist(rng);
        const Tensor index = Tensor::from_vector<int32_t>(idx, {n});
        const Tensor table = random_tensor<T>({rows, dim}, seed++);
        Tensor want = Tensor::empty({n, dim}, dtype_of<T>());
        ops::embedding_forward(cpu, table, index, want);
        Tensor got = poisoned_cuda(gpu, {n, dim}, dtype_of<T>());
        ops::embedding_forward(gpu, table.to(Device::cuda), index.to(Device::cuda), got);
        EXPECT_EQ(host_values<T>(got), host_values<T>(want)) << "n=" << n;

        const Tensor d_out = random_tensor<T>({n, dim}, seed++);
        Tensor want_grad = Tensor::empty({rows, dim}, dtype_of<T>());
        ops::embedding_backward(cpu, d_out, index, want_grad);
        for (int run = 0; run < 2; ++run) {
            Tensor got_grad = poisoned_cuda(gpu, {rows, dim}, dtype_of<T>());
            ops::embedding_backward(gpu, d_out.to(Device::cuda), index.to(Device::cuda), got_grad);
            EXPECT_EQ(host_values<T>(got_grad), host_values<T>(want_grad)) << "n=" << n << " run " << run;
        }
    }
}

TEST(EmbeddingCuda, MatchesCpuF32) { check_embedding<float>(); }
TEST(EmbeddingCuda, MatchesCpuF64) { check_embedding<double>(); }

}  // namespace
}  // namespace skipper
