// The sum of one GBDT histogram over the ranks of a job, two ways: one
// allreduce, or a reduce-scatter (each rank gets the sum of its block of
// bins) followed by an allgather of the blocks. Run under mpirun, e.g.
//   mpirun -np 2 ./build/bench/collective_bench
// Every rank runs the same fixed number of iterations (the collectives must
// match); rank 0 reports. Quantized histograms: one i64 per bin.
#include <benchmark/benchmark.h>

#include <vector>

#include "engine/collective.h"

namespace {

using namespace skipper;

// Bins padded to a multiple of the rank count, as reduce-scatter needs.
std::vector<int64_t> histogram_of(int64_t bins) {
    const int64_t ranks = collective::size();
    return std::vector<int64_t>(static_cast<size_t>((bins + ranks - 1) / ranks * ranks), collective::rank() + 1);
}

void BM_histogram_allreduce_cpu(benchmark::State& state) {
    std::vector<int64_t> histogram = histogram_of(state.range(0));
    for (auto _ : state) {
        collective::allreduce_sum(std::span(histogram));
        benchmark::DoNotOptimize(histogram.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(histogram.size() * sizeof(int64_t)));
}

void BM_histogram_reduce_scatter_allgather_cpu(benchmark::State& state) {
    std::vector<int64_t> histogram = histogram_of(state.range(0));
    std::vector<int64_t> block(histogram.size() / static_cast<size_t>(collective::size()));
    for (auto _ : state) {
        collective::reduce_scatter_sum(histogram, block);
        collective::allgather(block, histogram);
        benchmark::DoNotOptimize(histogram.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(histogram.size() * sizeof(int64_t)));
}

// 49 features x up to 255 bins (the session task's GBDT), and a 13-feature one.
BENCHMARK(BM_histogram_allreduce_cpu)->Arg(13 * 255)->Arg(49 * 255)->Iterations(500)->UseRealTime();
BENCHMARK(BM_histogram_reduce_scatter_allgather_cpu)->Arg(13 * 255)->Arg(49 * 255)->Iterations(500)->UseRealTime();

// The other ranks run the same iterations and print nothing.
class QuietReporter : public benchmark::BenchmarkReporter {
public:
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
    const collective::Session session(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (collective::is_root()) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        QuietReporter quiet;
        benchmark::RunSpecifiedBenchmarks(&quiet);
    }
    benchmark::Shutdown();
    return 0;
}
