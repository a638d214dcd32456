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
#include "trainer/gbdt/binning.h"

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

// The streamed ingest's pass 2 after the parse and the join: windows of
// Arg sessions built and binned (bin_session_rows) on one thread, as each
// ingest worker does. The track table has the size of MSSD's (2.4M tracks,
// 277 MB) and the windows take turns, so that their track rows are read from
// memory, as the real ones are, not from the cache a repeated window warms.
// Items are the binned rows.
void BM_bin_session_rows_cpu(benchmark::State& state) {
    constexpr int64_t kWindows = 8;
    GeneratorOptions options;
    options.sessions = kWindows * state.range(0);
    options.tracks = 2'400'000;
    const MssdData data = generate_mssd(options);
    const TrackStandardiser z(data.tracks);
    const TabularDataset rows = build_session_rows(data, &z);
    const skipper::gbdt::RowBinner binner(skipper::gbdt::fit_feature_bins(rows, 255, 200000, 1));
    std::vector<MssdData> windows(kWindows);
    for (int64_t w = 0; w < kWindows; ++w) {
        MssdData& window = windows[static_cast<size_t>(w)];
        window.log = data.log;
        window.tracks = data.tracks;
        std::vector<uint8_t> keep(data.log.session_ids.size());
        for (size_t s = 0; s < keep.size(); ++s) keep[s] = static_cast<int64_t>(s) % kWindows == w;
        std::vector<int32_t> track_row;
        for (int64_t i = 0; i < data.log.rows; ++i)
            if (keep[static_cast<size_t>(data.log.session.data<int32_t>()[i])]) track_row.push_back(data.track_row.data<int32_t>()[i]);
        keep_sessions(window.log, keep);
        window.track_row = skipper::Tensor::from_vector<int32_t>(track_row, {static_cast<int64_t>(track_row.size())});
    }
    size_t next = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(bin_session_rows(windows[next], z, binner).bins.size(0));
        next = (next + 1) % windows.size();
    }
    state.SetItemsProcessed(state.iterations() * rows.rows() / kWindows);
}
BENCHMARK(BM_bin_session_rows_cpu)->Arg(3000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
