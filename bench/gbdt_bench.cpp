// GBDT hot paths: histogram construction over all rows and over a leaf's
// gathered rows, and one whole training run on a seed-task-shaped matrix.
#include <benchmark/benchmark.h>

#include <random>

#include "engine/context.h"
#include "engine/gbdt_ops.h"
#include "engine/histogram_ops.h"
#include "trainer/gbdt/binned_dataset.h"
#include "trainer/gbdt/gbdt.h"

namespace {

using namespace skipper;

struct HistogramInputs {
    ops::HistogramRows rows;
    Tensor leaf, histogram, scratch;
};

// rows x features bins with 255 value bins + 1 missing bin per feature; a
// leaf of every other row when `subset`; quantized pairs with 4 levels when
// `quantized`.
HistogramInputs make_inputs(int64_t rows, int64_t features, bool subset, bool quantized) {
    std::mt19937_64 rng(1);
    HistogramInputs in;
    in.rows.bins = Tensor::empty({rows, features}, DType::u8);
    for (int64_t i = 0; i < rows * features; ++i) in.rows.bins.data<uint8_t>()[i] = static_cast<uint8_t>(rng() % 256);
    std::vector<int32_t> offsets(static_cast<size_t>(features) + 1);
    for (int64_t f = 0; f <= features; ++f) offsets[static_cast<size_t>(f)] = static_cast<int32_t>(256 * f);
    in.rows.feature_offsets = Tensor::from_vector<int32_t>(offsets, {features + 1});
    in.rows.gradients = Tensor::empty({rows}, DType::f32);
    in.rows.hessians = Tensor::empty({rows}, DType::f32);
    for (int64_t r = 0; r < rows; ++r) {
        in.rows.gradients.data<float>()[r] = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
        in.rows.hessians.data<float>()[r] = 0.25f;
    }
    if (quantized) {
        Context ctx(Device::cpu, 2);
        in.rows.quant_bins = 4;
        in.rows.quantized = Tensor::empty({rows}, DType::i32);
        const auto scale = ops::quant_scale(ops::gradient_extent(ctx, in.rows.gradients, in.rows.hessians), 4);
        ops::quantize_gradients(ctx, in.rows.gradients, in.rows.hessians, {}, 1, true, scale, 4, in.rows.quantized);
    }
    if (subset) {
        std::vector<int32_t> leaf;
        for (int64_t r = 0; r < rows; r += 2) leaf.push_back(static_cast<int32_t>(r));
        in.leaf = Tensor::from_vector<int32_t>(leaf, {static_cast<int64_t>(leaf.size())});
    }
    in.histogram = ops::histogram_empty(in.rows);
    in.scratch = ops::histogram_scratch(in.rows, rows);
    return in;
}

void BM_histogram_build_cpu(benchmark::State& state) {
    const int64_t rows = state.range(0), features = state.range(1);
    const bool subset = state.range(2) != 0;
    HistogramInputs in = make_inputs(rows, features, subset, state.range(3) != 0);
    Context ctx(Device::cpu, 2);
    for (auto _ : state) {
        ops::histogram_build(ctx, in.rows, in.leaf, in.histogram, in.scratch);
        benchmark::DoNotOptimize(in.histogram.raw());
    }
    const int64_t summed = subset ? in.leaf.numel() : rows;
    state.counters["bin_updates/s"] =
        benchmark::Counter(static_cast<double>(summed * features), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_histogram_build_cpu)
    ->Args({880000, 13, 0, 0})
    ->Args({880000, 13, 1, 0})
    ->Args({100000, 49, 1, 0})
    ->Args({880000, 13, 0, 1})
    ->Args({880000, 13, 1, 1})
    ->Args({100000, 49, 1, 1})
    ->ArgNames({"rows", "features", "leaf", "quantized"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_gbdt_train_cpu(benchmark::State& state) {
    const int64_t rows = state.range(0), features = 13;
    std::mt19937_64 rng(2);
    std::vector<float> x(static_cast<size_t>(rows * features)), y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        double logit = 0;
        for (int64_t f = 0; f < features; ++f) {
            const float v = static_cast<float>(rng() % (f < 3 ? 8 : 60));
            x[static_cast<size_t>(r * features + f)] = v;
            logit += (f % 2 ? 0.05 : -0.04) * v;
        }
        y[static_cast<size_t>(r)] = static_cast<double>(rng() % 1000) / 1000.0 < 1.0 / (1.0 + std::exp(-logit)) ? 1.0f : 0.0f;
    }
    data::TabularDataset train;
    for (int64_t f = 0; f < features; ++f) train.feature_names.push_back("f" + std::to_string(f));
    train.categorical.assign(static_cast<size_t>(features), false);
    train.categorical[0] = train.categorical[1] = train.categorical[2] = true;
    train.category_names.resize(static_cast<size_t>(features));
    train.features = Tensor::from_vector<float>(x, {rows, features});
    train.labels = Tensor::from_vector<float>(y, {rows});
    GbdtParams params;  // the seed task's setting
    params.learning_rate = 0.09;
    params.max_depth = 5;
    params.num_iterations = state.range(1);
    params.num_threads = 2;
    for (auto _ : state) benchmark::DoNotOptimize(train_gbdt(train, nullptr, params).num_trees());
}
BENCHMARK(BM_gbdt_train_cpu)->Args({200000, 20})->ArgNames({"rows", "iterations"})->Unit(benchmark::kMillisecond)->UseRealTime();

// Bin edges fitted on the ingest's bin sample: 200k rows shaped like the
// session rows (standardised track floats, 0/1 flags, small counts, categories).
void BM_fit_bins_on_sample(benchmark::State& state) {
    const int64_t rows = state.range(0), floats = 40, flags = 24, categories = 8;
    const int64_t features = floats + flags + categories;
    std::mt19937_64 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> sample(static_cast<size_t>(rows * features));
    std::vector<float> track(static_cast<size_t>(floats));
    for (int64_t r = 0; r < rows; ++r) {
        // A new track every row or so: track features repeat across a session's rows.
        if (rng() % 4 != 0)
            for (auto& v : track) v = normal(rng);
        float* row = sample.data() + r * features;
        for (int64_t f = 0; f < floats; ++f) row[f] = track[static_cast<size_t>(f)];
        for (int64_t f = 0; f < flags; ++f) row[floats + f] = static_cast<float>(rng() % (f < 20 ? 2 : 12));
        for (int64_t f = 0; f < categories; ++f) row[floats + flags + f] = static_cast<float>(rng() % 7);
    }
    const Tensor matrix = Tensor::from_vector<float>(sample, {rows, features});
    std::vector<std::string> names;
    std::vector<bool> categorical;
    for (int64_t f = 0; f < features; ++f) {
        names.push_back("f" + std::to_string(f));
        categorical.push_back(f >= floats + flags);
    }
    for (auto _ : state) benchmark::DoNotOptimize(gbdt::fit_bins_on_sample(matrix, names, categorical, 255).size());
}
BENCHMARK(BM_fit_bins_on_sample)->Arg(200000)->ArgName("rows")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
