// CPU (and, where a GPU is present, CUDA) matrix products at the LSTM's shapes:
// M = batch x steps rows, K = input or hidden width, N = 4 x 116 gates.
#include <benchmark/benchmark.h>

#include "engine/context.h"
#include "engine/ops.h"

namespace {

using skipper::Context;
using skipper::Device;
using skipper::DType;
using skipper::Tensor;

void run_matmul(benchmark::State& state, Device device) {
    const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
    if (device == Device::cuda && !skipper::cuda_available()) {
        state.SkipWithError("no usable GPU");
        return;
    }
    Context ctx(device, 0);
    Tensor a = Tensor::empty({m, k}, DType::f32, device), b = Tensor::empty({k, n}, DType::f32, device);
    Tensor c = Tensor::empty({m, n}, DType::f32, device);
    skipper::ops::fill_uniform(ctx, a, -1, 1, 1);
    skipper::ops::fill_uniform(ctx, b, -1, 1, 2);
    for (auto _ : state) {
        skipper::ops::matmul(ctx, a, false, b, false, c);
        ctx.synchronize();
    }
    const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_matmul_cpu(benchmark::State& state) { run_matmul(state, Device::cpu); }
void BM_matmul_cuda(benchmark::State& state) { run_matmul(state, Device::cuda); }

// The LSTM's products: x W_ih^T over all steps (K = F or 2H), h W_hh^T per step
// (M = batch, K = H), with N = 4H = 464.
void lstm_shapes(benchmark::internal::Benchmark* b) {
    for (int64_t m : {1000, 4096, 13000, 20000})
        for (int64_t k : {1, 13, 40, 116, 232}) b->Args({m, k, 464});
    b->ArgNames({"M", "K", "N"})->UseRealTime();
}

BENCHMARK(BM_matmul_cpu)->Apply(lstm_shapes);
BENCHMARK(BM_matmul_cuda)->Apply(lstm_shapes);

}  // namespace

BENCHMARK_MAIN();
