// Data pipeline throughput: the generator in memory, the reader + join on
// generated raw-format files, and the session feature builders.
// Rows per second are reported as items_per_second.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"

namespace {

using namespace skipper::data;

void BM_generate_mssd_cpu(benchmark::State& state) {
    GeneratorOptions options;
    options.sessions = state.range(0);
    int64_t rows = 0;
    for (auto _ : state) rows += generate_mssd(options).log.rows;
    state.SetItemsProcessed(rows);
}
BENCHMARK(BM_generate_mssd_cpu)->Arg(60000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_read_mssd_cpu(benchmark::State& state) {
    const std::string dir = (std::filesystem::temp_directory_path() / "skipper_read_bench").string();
    GeneratorOptions options;
    options.sessions = state.range(0);
    const GeneratedFiles files = write_generated_mssd(options, dir);
    for (auto _ : state) benchmark::DoNotOptimize(load_mssd(files.log_path, files.tracks_path).log.rows);
    state.SetItemsProcessed(state.iterations() * files.rows);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(std::filesystem::file_size(files.log_path) +
                                                                      std::filesystem::file_size(files.tracks_path)));
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_read_mssd_cpu)->Arg(60000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_build_session_features_cpu(benchmark::State& state) {
    GeneratorOptions options;
    options.sessions = state.range(0);
    const MssdData data = generate_mssd(options);
    for (auto _ : state) {
        benchmark::DoNotOptimize(build_session_rows(data).rows());
        benchmark::DoNotOptimize(build_session_sequences(data).sessions());
    }
    state.SetItemsProcessed(state.iterations() * data.log.rows);
}
BENCHMARK(BM_build_session_features_cpu)->Arg(60000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
