// The LSTM's training step (forward + backward + Adam), inference, and its
// fused cell kernels, at the shapes of the two architectures: B = 1000
// sequences, 2 bidirectional layers of 116; seed T = 13, F = 1; session
// T = 20, F = 65 (the sequence builder's per-step width).
//
// GFLOP/s counts the matrix products only (the cell kernels and the loss are
// O(T B H) next to the products' O(T B H^2)); see lstm_matmul_flops.
#include <benchmark/benchmark.h>

#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "trainer/lstm/network.h"

namespace {

using skipper::Context;
using skipper::Device;
using skipper::DType;
using skipper::Tensor;
using skipper::lstm::LstmArchitecture;
using skipper::lstm::LstmNetwork;

constexpr int64_t kBatch = 1000;
constexpr int64_t kHidden = 116;

struct Shape {
    LstmArchitecture arch;
    int64_t steps;
};

Shape shape_of(int64_t which) {
    if (which == 0) return {LstmArchitecture{1, kHidden, 2, true, false}, 13};
    return {LstmArchitecture{65, kHidden, 2, true, true}, 20};
}

// Matrix-product FLOPs of one forward (and, with backward, one training step).
double lstm_matmul_flops(const Shape& s, int64_t batch, bool backward) {
    const double t = static_cast<double>(s.steps), b = static_cast<double>(batch);
    const double h = static_cast<double>(s.arch.hidden_size), g = 4 * h;
    const double dirs = static_cast<double>(s.arch.directions());
    double flops = 0;
    for (int64_t l = 0; l < s.arch.num_layers; ++l) {
        const double in = l == 0 ? static_cast<double>(s.arch.input_size) : dirs * h;
        const double projection = 2 * t * b * in * g, recurrent = 2 * (t - 1) * b * h * g;
        flops += dirs * (projection + recurrent);
        if (backward) {
            const double input_grad = l == 0 ? 0.0 : projection;
            flops += dirs * (recurrent + 2 * t * b * h * g + projection + input_grad);
        }
    }
    return flops;
}

void fill_batch(Context& ctx, LstmNetwork& net, const Shape& s) {
    auto& batch = net.batch(s.steps, kBatch);
    skipper::ops::fill_uniform(ctx, batch.inputs, -1, 1, 1);
    skipper::ops::fill(ctx, batch.mask, 1.0);
    skipper::ops::fill_uniform(ctx, batch.targets, 0, 1, 2);
    skipper::ops::fill(ctx, batch.weights, 1.0);
}

void run_lstm(benchmark::State& state, Device device, bool train) {
    if (device == Device::cuda && !skipper::cuda_available()) {
        state.SkipWithError("no usable GPU");
        return;
    }
    const Shape s = shape_of(state.range(0));
    LstmNetwork net(s.arch, DType::f32, device, 0);
    net.initialize(1);
    fill_batch(net.context(), net, s);
    Tensor& params = net.flat_parameters();
    Tensor m = Tensor::zeros(params.shape(), DType::f32, device), v = Tensor::zeros(params.shape(), DType::f32, device);
    int64_t step = 0;
    for (auto _ : state) {
        if (train) {
            benchmark::DoNotOptimize(net.forward_backward());
            skipper::ops::adam_step(net.context(), params, net.flat_gradients(), m, v, {}, ++step);
        } else {
            net.forward();
        }
        net.context().synchronize();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
    state.counters["GFLOP/s"] = benchmark::Counter(lstm_matmul_flops(s, kBatch, train) * 1e-9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

void BM_lstm_train_step_cpu(benchmark::State& state) { run_lstm(state, Device::cpu, true); }
void BM_lstm_forward_cpu(benchmark::State& state) { run_lstm(state, Device::cpu, false); }
void BM_lstm_train_step_cuda(benchmark::State& state) { run_lstm(state, Device::cuda, true); }
void BM_lstm_forward_cuda(benchmark::State& state) { run_lstm(state, Device::cuda, false); }

void architectures(benchmark::internal::Benchmark* b) {
    b->ArgName("arch_seed0_session1")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_lstm_train_step_cpu)->Apply(architectures);
BENCHMARK(BM_lstm_forward_cpu)->Apply(architectures);
BENCHMARK(BM_lstm_train_step_cuda)->Apply(architectures);
BENCHMARK(BM_lstm_forward_cuda)->Apply(architectures);

// One step of the fused cell kernels at [B, 4H].
void run_cell(benchmark::State& state, bool backward) {
    const int64_t batch = state.range(0), hidden = state.range(1);
    Context ctx(Device::cpu, 0);
    Tensor gates = Tensor::empty({batch, 4 * hidden}, DType::f32), bias = Tensor::zeros({4 * hidden}, DType::f32);
    Tensor c_prev = Tensor::empty({batch, hidden}, DType::f32), h_prev = Tensor::empty({batch, hidden}, DType::f32);
    Tensor c = Tensor::empty({batch, hidden}, DType::f32), h = Tensor::empty({batch, hidden}, DType::f32);
    Tensor mask = Tensor::empty({batch}, DType::f32), dgates = Tensor::empty({batch, 4 * hidden}, DType::f32);
    skipper::ops::fill_uniform(ctx, gates, -2, 2, 1);
    skipper::ops::fill_uniform(ctx, c_prev, -1, 1, 2);
    skipper::ops::fill_uniform(ctx, h_prev, -1, 1, 3);
    skipper::ops::fill(ctx, mask, 1.0);
    const Tensor pre = gates.clone();
    for (auto _ : state) {
        if (backward) {
            skipper::ops::lstm_cell_backward(ctx, gates, c_prev, c, mask, h_prev, c_prev, dgates, c, h);
        } else {
            gates.copy_from(pre);
            skipper::ops::lstm_cell_forward(ctx, gates, bias, c_prev, h_prev, mask, c, h);
        }
    }
    state.SetBytesProcessed(state.iterations() * batch * hidden * 4 * (backward ? 13 : 9));
}
void BM_lstm_cell_forward_cpu(benchmark::State& state) { run_cell(state, false); }
void BM_lstm_cell_backward_cpu(benchmark::State& state) { run_cell(state, true); }
BENCHMARK(BM_lstm_cell_forward_cpu)->Args({1000, 116})->ArgNames({"B", "H"})->UseRealTime();
BENCHMARK(BM_lstm_cell_backward_cpu)->Args({1000, 116})->ArgNames({"B", "H"})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
