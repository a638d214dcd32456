// Data pipeline throughput: the generator in memory, the reader + join on
// generated raw-format files, pass 1's scan, and the session feature builders.
// Rows per second are reported as items_per_second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "trainer/data/features.h"
#include "trainer/data/file_text.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"
#include "trainer/data/session_scan.h"

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

// The CSV parser alone over one ingest window of each file (the header and
// the first 8 MB of rows, parsed on one thread, as pass 2 and the track
// table do): Arg 0 the session log, 1 the track features. Items are fields.
void BM_parse_window_cpu(benchmark::State& state) {
    const std::string dir = (std::filesystem::temp_directory_path() / "skipper_parse_bench").string();
    GeneratorOptions options;
    options.sessions = 60000;
    const GeneratedFiles files = write_generated_mssd(options, dir);
    const bool tracks = state.range(0) == 1;
    std::string text;
    {
        const FileText file(tracks ? files.tracks_path : files.log_path);
        const std::string_view all = file.text();
        text = std::string(all.substr(0, all.find('\n', std::min<size_t>(all.size() - 1, size_t{8} << 20)) + 1));
    }
    std::filesystem::remove_all(dir);
    const auto columns = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find('\n')), ',');
    const auto rows = std::count(text.begin(), text.end(), '\n') - 1;
    ReadOptions read;
    read.num_threads = 1;
    for (auto _ : state) {
        if (tracks) benchmark::DoNotOptimize(parse_track_features(text, "tf", read, nullptr).rows());
        else benchmark::DoNotOptimize(parse_session_log(text, "log", read, nullptr).rows);
    }
    state.SetItemsProcessed(state.iterations() * rows * columns);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_parse_window_cpu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Pass 1 of the streamed ingest (scan_session_file: the session-id column's
// runs, row counts and byte ranges) over a generated log file of Arg sessions,
// on 2 threads with the ingest's default windows. Bytes are the file's.
void BM_scan_session_file_cpu(benchmark::State& state) {
    const std::string dir = (std::filesystem::temp_directory_path() / "skipper_scan_bench").string();
    GeneratorOptions options;
    options.sessions = state.range(0);
    const GeneratedFiles files = write_generated_mssd(options, dir);
    for (auto _ : state)
        for (int pass = 0; pass < 10; ++pass)  // the scan, not the generator, is most of the process's time
            benchmark::DoNotOptimize(scan_session_file(files.log_path, 1.0, 0, int64_t{16} << 20, 2).rows);
    state.SetItemsProcessed(state.iterations() * 10 * files.rows);
    state.SetBytesProcessed(state.iterations() * 10 * static_cast<int64_t>(std::filesystem::file_size(files.log_path)));
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_scan_session_file_cpu)->Arg(120000)->Unit(benchmark::kMillisecond)->UseRealTime();

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
