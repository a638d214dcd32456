// Skipper's Bi-LSTM on CUDA: training throughput (forward, masked BCE,
// backward, Adam) of the whole network, and the time of one recurrent step
// (the per-step product h W_hh^T plus the fused cell kernel, and the backward
// twin), at the seed and session shapes and B = 4096, in FP32 and TF32.
// The peer is bench/peers/lstm_cudnn.py (PyTorch nn.LSTM on cuDNN, same
// shapes); bench/gpu/check.sh runs both and prints the side-by-side table.
//
// Timing: CUDA events on the network's stream around kStepsPerIteration
// training steps, after warm-up; Google Benchmark's repetitions give medians.
// The batch stays on the device (as the peer's does), so the figures are the
// training compute, not the host-side batch assembly.
//
// Flags besides Google Benchmark's: --session_features=N overrides the session
// architecture's per-step feature count, which is otherwise read off the data
// pipeline (trainer/data, build_session_sequences on a small synthetic set);
// --print_session_features prints that count and exits (bench/gpu/check.sh
// hands it to the peer).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/cuda_device.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/lstm/network.h"

namespace {

using skipper::Context;
using skipper::CudaEvent;
using skipper::Device;
using skipper::DType;
using skipper::Tensor;
namespace ops = skipper::ops;

constexpr int64_t kHidden = 116;
constexpr int kStepsPerIteration = 10;
constexpr int kWarmupSteps = 5;

struct ModelShape {
    std::string name;  // seed | session
    int64_t steps, batch, features;
    bool output_every_step;
};

// Matrix-product floating-point operations of one training step (2 per
// multiply-add), as the network runs them: per layer and direction, the input
// projection over all steps, T-1 recurrent products forward and backward (the
// first step's state is zero), the weight gradients over all steps, and the
// gradient reaching the layer below (not the inputs). The elementwise work is
// memory-bound and not counted.
double training_flops(const ModelShape& s) {
    const double t = static_cast<double>(s.steps), b = static_cast<double>(s.batch), h = kHidden, gates = 4 * h;
    double flops = 0.0;
    for (int layer = 0; layer < 2; ++layer) {
        const double in = layer == 0 ? static_cast<double>(s.features) : 2 * h;
        const double forward = 2 * t * b * in * gates + 2 * (t - 1) * b * h * gates;
        const double backward = 2 * (t - 1) * b * gates * h    // dgates W_hh -> dh
                                + 2 * t * b * gates * h         // W_hh gradient
                                + 2 * t * b * gates * in        // W_ih gradient
                                + (layer > 0 ? 2 * t * b * gates * in : 0.0);  // to the layer below
        flops += 2 * (forward + backward);  // two directions
    }
    return flops;
}

bool require_gpu(benchmark::State& state) {
    if (skipper::cuda_available()) return true;
    state.SkipWithError("no usable GPU");
    return false;
}

// One time-major batch on the device: right-padded sequences of random length
// in [T/2, T] (session) or full length (seed), random inputs and targets, the
// loss on the second half of each session as the WSDM protocol scores it.
void fill_batch(skipper::lstm::LstmNetwork& net, const ModelShape& s) {
    skipper::lstm::LstmBatch& batch = net.batch(s.steps, s.batch);
    std::vector<float> inputs(static_cast<size_t>(s.steps * s.batch * s.features));
    std::vector<float> mask(static_cast<size_t>(s.steps * s.batch), 0.0f);
    const int64_t outputs = s.output_every_step ? s.steps * s.batch : s.batch;
    std::vector<float> targets(static_cast<size_t>(outputs)), weights(static_cast<size_t>(outputs), 0.0f);
    uint64_t state = 12345;
    auto next = [&state] {  // a small LCG: the values only need to be ordinary numbers
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<double>(state >> 11) * 0x1.0p-53;
    };
    for (auto& x : inputs) x = static_cast<float>(2.0 * next() - 1.0);
    for (int64_t j = 0; j < s.batch; ++j) {
        const int64_t length =
            s.output_every_step ? s.steps / 2 + static_cast<int64_t>(next() * static_cast<double>(s.steps / 2 + 1))
                                : s.steps;
        for (int64_t t = 0; t < length; ++t) {
            mask[static_cast<size_t>(t * s.batch + j)] = 1.0f;
            if (s.output_every_step) weights[static_cast<size_t>(t * s.batch + j)] = t >= length / 2 ? 1.0f : 0.0f;
        }
        if (!s.output_every_step) weights[static_cast<size_t>(j)] = 1.0f;
    }
    for (auto& y : targets) y = next() < 0.5 ? 0.0f : 1.0f;
    batch.inputs.copy_from(Tensor::from_vector<float>(inputs, batch.inputs.shape()));
    batch.mask.copy_from(Tensor::from_vector<float>(mask, batch.mask.shape()));
    batch.targets.copy_from(Tensor::from_vector<float>(targets, batch.targets.shape()));
    batch.weights.copy_from(Tensor::from_vector<float>(weights, batch.weights.shape()));
}

// graph: the forward and backward passes replayed as one CUDA graph;
// persist: the forward recurrence in the persistent small-H kernel.
void BM_lstm_train_cuda(benchmark::State& state, ModelShape shape, bool tf32, bool graph, bool persist) {
    if (!require_gpu(state)) return;
    skipper::lstm::LstmArchitecture architecture;
    architecture.input_size = shape.features;
    architecture.hidden_size = kHidden;
    architecture.num_layers = 2;
    architecture.bidirectional = true;
    architecture.output_every_step = shape.output_every_step;
    skipper::lstm::LstmNetwork net(architecture, DType::f32, Device::cuda);
    net.set_tf32(tf32);
    net.set_cuda_graph(graph);
    if (persist) {
        if (!ops::lstm_recurrent_algorithm_available(net.context(), ops::RecurrentAlgorithm::persist_small_h,
                                                     DType::f32, shape.batch, kHidden)) {
            state.SkipWithError("persist_small_h is not offered on this device");
            return;
        }
        net.set_recurrent_algorithm(ops::RecurrentAlgorithm::persist_small_h);
    }
    net.initialize(42);
    fill_batch(net, shape);
    Tensor& weights = net.flat_parameters();
    Tensor m = Tensor::zeros(weights.shape(), DType::f32, Device::cuda);
    Tensor v = Tensor::zeros(weights.shape(), DType::f32, Device::cuda);
    const ops::AdamOptions adam;
    int64_t step = 0;
    double loss = 0.0;
    auto train_step = [&] {
        loss = net.forward_backward();
        ops::adam_step(net.context(), weights, net.flat_gradients(), m, v, adam, ++step);
    };
    for (int i = 0; i < kWarmupSteps; ++i) train_step();
    net.context().synchronize();

    CudaEvent start, stop;
    for (auto _ : state) {
        start.record(net.context().cuda_stream());
        for (int i = 0; i < kStepsPerIteration; ++i) train_step();
        stop.record(net.context().cuda_stream());
        stop.synchronize();
        state.SetIterationTime(static_cast<double>(stop.elapsed_ms_since(start)) * 1e-3);
    }
    if (!std::isfinite(loss)) state.SkipWithError("the training loss is not finite");
    const double steps_done = static_cast<double>(state.iterations()) * kStepsPerIteration;
    state.counters["seq_per_s"] = benchmark::Counter(steps_done * static_cast<double>(shape.batch),
                                                     benchmark::Counter::kIsRate);
    state.counters["us_per_train_step"] = benchmark::Counter(steps_done * 1e-6, benchmark::Counter::kIsRate |
                                                                                     benchmark::Counter::kInvert);
    state.counters["TFLOP_per_s"] =
        benchmark::Counter(steps_done * training_flops(shape) * 1e-12, benchmark::Counter::kIsRate);
    state.counters["GFLOP_per_train_step"] = training_flops(shape) * 1e-9;
    state.counters["loss"] = loss;
}

// One direction's recurrent chain alone, T steps of batch B: forward
// (gates += h_{t-1} W_hh^T, then the fused cell) or backward (dh += d_out,
// the cell's backward twin, then dh += dgates W_hh). This is the latency a
// persistent kernel would attack: per step, one small product and one
// elementwise kernel, each waiting for the one before.
void BM_lstm_step_cuda(benchmark::State& state, int64_t batch, int64_t steps, bool backward, bool tf32) {
    if (!require_gpu(state)) return;
    Context ctx(Device::cuda);
    ctx.set_tf32(tf32);
    const int64_t h = kHidden;
    Tensor w_hh = Tensor::empty({4 * h, h}, DType::f32, Device::cuda);
    Tensor bias = Tensor::empty({4 * h}, DType::f32, Device::cuda);
    Tensor gates = Tensor::empty({steps, batch, 4 * h}, DType::f32, Device::cuda);
    Tensor dgates = Tensor::empty({steps, batch, 4 * h}, DType::f32, Device::cuda);
    Tensor states = Tensor::empty({steps + 1, batch, h}, DType::f32, Device::cuda);  // h of every step
    Tensor cells = Tensor::empty({steps + 1, batch, h}, DType::f32, Device::cuda);
    Tensor d_out = Tensor::empty({steps, batch, h}, DType::f32, Device::cuda);
    Tensor dh = Tensor::zeros({batch, h}, DType::f32, Device::cuda), dc = Tensor::zeros({batch, h}, DType::f32, Device::cuda);
    Tensor mask = Tensor::empty({batch}, DType::f32, Device::cuda);
    const double limit = 1.0 / std::sqrt(static_cast<double>(h));
    ops::fill_uniform(ctx, w_hh, -limit, limit, 1);
    ops::fill_uniform(ctx, bias, -0.1, 0.1, 2);
    ops::fill_uniform(ctx, gates, -1, 1, 3);
    ops::fill_uniform(ctx, states, -0.5, 0.5, 4);
    ops::fill_uniform(ctx, cells, -0.5, 0.5, 5);
    ops::fill_uniform(ctx, d_out, -0.01, 0.01, 6);
    ops::fill(ctx, mask, 1.0);
    auto slot = [&](const Tensor& x, int64_t s, int64_t width) { return x.slice_rows(s, s + 1).reshape({batch, width}); };
    std::vector<Tensor> gates_t, dgates_t, h_t, c_t, d_out_t;
    for (int64_t s = 0; s <= steps; ++s) {
        h_t.push_back(slot(states, s, h));
        c_t.push_back(slot(cells, s, h));
    }
    for (int64_t s = 0; s < steps; ++s) {
        gates_t.push_back(slot(gates, s, 4 * h));
        dgates_t.push_back(slot(dgates, s, 4 * h));
        d_out_t.push_back(slot(d_out, s, h));
    }
    auto run_chain = [&] {
        for (int64_t s = 0; s < steps; ++s) {
            const auto t = static_cast<size_t>(backward ? steps - 1 - s : s);
            if (!backward) {
                ops::matmul(ctx, h_t[t], false, w_hh, true, gates_t[t], 1.0, 1.0);
                ops::lstm_cell_forward(ctx, gates_t[t], bias, c_t[t], h_t[t], mask, c_t[t + 1], h_t[t + 1]);
            } else {
                ops::add(ctx, dh, d_out_t[t], dh);
                ops::lstm_cell_backward(ctx, gates_t[t], c_t[t], c_t[t + 1], mask, dh, dc, dgates_t[t], dc, dh);
                ops::matmul(ctx, dgates_t[t], false, w_hh, false, dh, 1.0, 1.0);
            }
        }
    };
    // The forward chain turns the gate buffer into activations: refill it
    // outside the timed region so every iteration sees pre-activations.
    auto reset = [&] { ops::fill_uniform(ctx, gates, -1, 1, 3); };
    for (int i = 0; i < 3; ++i) {
        reset();
        run_chain();
    }
    ctx.synchronize();
    CudaEvent start, stop;
    for (auto _ : state) {
        reset();
        start.record(ctx.cuda_stream());
        run_chain();
        stop.record(ctx.cuda_stream());
        stop.synchronize();
        state.SetIterationTime(static_cast<double>(stop.elapsed_ms_since(start)) * 1e-3);
    }
    const double steps_done = static_cast<double>(state.iterations() * steps);
    state.counters["us_per_step"] =
        benchmark::Counter(steps_done * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    const double flops = 2.0 * static_cast<double>(batch) * static_cast<double>(4 * h) * static_cast<double>(h);
    state.counters["TFLOP_per_s"] = benchmark::Counter(steps_done * flops * 1e-12, benchmark::Counter::kIsRate);
}

// One direction's whole forward recurrence through ops::lstm_recurrent_forward,
// T steps of batch B at H = 116, with the standard algorithm (a cuBLAS product
// and the cell kernel per step: 2T launches) or the persistent small-H kernel
// (one launch, W_hh in the shared memory of a 2-block cluster). The input
// projections are refilled outside the timed region.
void BM_lstm_recurrent_cuda(benchmark::State& state, int64_t batch, int64_t steps,
                            ops::RecurrentAlgorithm algorithm, bool tf32) {
    if (!require_gpu(state)) return;
    Context ctx(Device::cuda);
    ctx.set_tf32(tf32);
    const int64_t h = kHidden;
    if (!ops::lstm_recurrent_algorithm_available(ctx, algorithm, DType::f32, batch, h)) {
        state.SkipWithError("this algorithm is not offered on this device");
        return;
    }
    Tensor w_hh = Tensor::empty({4 * h, h}, DType::f32, ctx), bias = Tensor::empty({4 * h}, DType::f32, ctx);
    Tensor gates = Tensor::empty({steps, batch, 4 * h}, DType::f32, ctx), mask = Tensor::empty({steps, batch}, DType::f32, ctx);
    Tensor states = Tensor::zeros({steps + 1, batch, h}, DType::f32, ctx);
    Tensor cells = Tensor::zeros({steps + 1, batch, h}, DType::f32, ctx);
    const double limit = 1.0 / std::sqrt(static_cast<double>(h));
    ops::fill_uniform(ctx, w_hh, -limit, limit, 1);
    ops::fill_uniform(ctx, bias, -0.1, 0.1, 2);
    ops::fill(ctx, mask, 1.0);
    auto reset = [&] { ops::fill_uniform(ctx, gates, -1, 1, 3); };
    for (int i = 0; i < 3; ++i) {
        reset();
        ops::lstm_recurrent_forward(ctx, w_hh, bias, mask, false, gates, states, cells, algorithm);
    }
    ctx.synchronize();
    CudaEvent start, stop;
    for (auto _ : state) {
        reset();
        start.record(ctx.cuda_stream());
        ops::lstm_recurrent_forward(ctx, w_hh, bias, mask, false, gates, states, cells, algorithm);
        stop.record(ctx.cuda_stream());
        stop.synchronize();
        state.SetIterationTime(static_cast<double>(stop.elapsed_ms_since(start)) * 1e-3);
    }
    const double steps_done = static_cast<double>(state.iterations() * steps);
    state.counters["us_per_step"] =
        benchmark::Counter(steps_done * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    const double flops = 2.0 * static_cast<double>(batch) * static_cast<double>(4 * h) * static_cast<double>(h);
    state.counters["TFLOP_per_s"] = benchmark::Counter(steps_done * flops * 1e-12, benchmark::Counter::kIsRate);
}

// The per-step feature count of the session sequences the LSTM trains on:
// track features plus the history's log columns and flags.
int64_t pipeline_session_features() {
    skipper::data::GeneratorOptions options;
    options.sessions = 20;
    return skipper::data::build_session_sequences(skipper::data::generate_mssd(options)).num_features();
}

struct Flags {
    int64_t session_features = 0;  // 0: from the data pipeline
    bool print_session_features = false;
};

// Takes this program's own flags out of argv, leaving Google Benchmark's.
Flags flags_from(int& argc, char** argv) {
    const char* features_prefix = "--session_features=";
    Flags flags;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], features_prefix, std::strlen(features_prefix)) == 0)
            flags.session_features = std::atoll(argv[i] + std::strlen(features_prefix));
        else if (std::strcmp(argv[i], "--print_session_features") == 0)
            flags.print_session_features = true;
        else
            argv[kept++] = argv[i];
    }
    argc = kept;
    return flags;
}

void register_benchmarks(int64_t session_features) {
    std::vector<ModelShape> shapes;
    for (int64_t batch : {int64_t{1000}, int64_t{4096}}) {
        shapes.push_back({"seed", 13, batch, 1, false});
        shapes.push_back({"session", 20, batch, session_features, true});
    }
    for (const auto& shape : shapes)
        for (bool tf32 : {false, true})
            for (const auto& [graph, persist] : {std::pair{false, false}, std::pair{true, false}, std::pair{true, true}}) {
                const std::string name = "BM_lstm_train_cuda/" + shape.name + "_b" + std::to_string(shape.batch) +
                                         "_" + (tf32 ? "tf32" : "fp32") + (graph ? "_graph" : "") +
                                         (persist ? "_persist" : "");
                benchmark::RegisterBenchmark(name.c_str(), BM_lstm_train_cuda, shape, tf32, graph, persist)
                    ->UseManualTime()
                    ->Unit(benchmark::kMillisecond);
            }
    for (int64_t batch : {int64_t{1000}, int64_t{4096}})
        for (bool backward : {false, true})
            for (bool tf32 : {false, true}) {
                const std::string name = std::string("BM_lstm_step_cuda/") + (backward ? "backward" : "forward") +
                                         "_b" + std::to_string(batch) + "_t20_" + (tf32 ? "tf32" : "fp32");
                benchmark::RegisterBenchmark(name.c_str(), BM_lstm_step_cuda, batch, int64_t{20}, backward, tf32)
                    ->UseManualTime()
                    ->Unit(benchmark::kMicrosecond);
            }
    // The persistent kernel computes in plain FP32 FMAs: TF32 changes only
    // the standard algorithm's products.
    for (int64_t batch : {int64_t{1000}, int64_t{4096}})
        for (auto algorithm : {ops::RecurrentAlgorithm::standard, ops::RecurrentAlgorithm::persist_small_h})
            for (bool tf32 : {false, true}) {
                if (algorithm == ops::RecurrentAlgorithm::persist_small_h && tf32) continue;
                const std::string name = std::string("BM_lstm_recurrent_cuda/") +
                                         ops::recurrent_algorithm_name(algorithm) + "_b" + std::to_string(batch) +
                                         "_t20_" + (tf32 ? "tf32" : "fp32");
                benchmark::RegisterBenchmark(name.c_str(), BM_lstm_recurrent_cuda, batch, int64_t{20}, algorithm, tf32)
                    ->UseManualTime()
                    ->Unit(benchmark::kMicrosecond);
            }
}

}  // namespace

int main(int argc, char** argv) {
    const Flags flags = flags_from(argc, argv);
    const int64_t session_features =
        flags.session_features > 0 ? flags.session_features : pipeline_session_features();
    if (flags.print_session_features) {
        std::printf("%lld\n", static_cast<long long>(session_features));
        return 0;
    }
    register_benchmarks(session_features);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
