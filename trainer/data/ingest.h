// Streaming ingest: the session task's GBDT rows built file by file into one
// byte per feature, without ever holding the CSV or the float feature matrix of more than one
// window (whole sessions, 16 MB by default).
//
// Two passes over the log files, both in bounded windows:
// 1. the session-id column alone (session_scan.h): the spanning check (a
//    session in two files is an error), each session's rows, so that pass 2
//    writes into buffers of the final size, and the bin sample's sessions, the
//    ones with the smallest session-id hashes (SampleChoice, as BinSample);
//    those sessions are then read from their byte ranges alone, built and
//    the edges fitted on them;
// 2. every file in windows of whole sessions (csv_windows.h; a file that does
//    not keep a session's lines together is read whole), one window per
//    thread, committed in file order (ordered_jobs.h): parsed,
//    joined against the track table read once (track_store.h), its session
//    rows built (build_session_rows, the in-memory builder itself), binned
//    with the edges fitted on the sample (on every rank's sample, in a
//    data-parallel job: agree_session_row_bins), each session to train or test by a
//    hash of its id.
// Nothing depends on which file a session came from: one file or the same
// sessions over ten files give the same rows in the same order (files read in
// sorted order) with the same keys and edges.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "trainer/data/dataset.h"
#include "trainer/data/features.h"
#include "trainer/data/mssd.h"
#include "trainer/gbdt/binned_dataset.h"

namespace skipper::data {

struct IngestProgress {
    const char* phase = "";  // "sample" (pass 1) or "bin" (pass 2)
    int64_t files_done = 0, files_total = 0;  // over both passes
    int64_t bytes_done = 0, bytes_total = 0;  // bytes read from disk, both passes
    int64_t rows_done = 0;                    // log rows read, both passes
    double seconds = 0.0;
};
using IngestProgressCallback = std::function<void(const IngestProgress&)>;

struct IngestOptions {
    ReadOptions read;
    double sample_sessions = 1.0;  // share of sessions kept (by hash)
    double test_fraction = 0.2;    // share of sessions held out (by hash and split_seed)
    uint64_t split_seed = 42;
    int64_t max_bin = 255;
    int64_t bin_construct_sample_cnt = 200000;  // rows in the bin sample
    // Sessions by hash: keeps only shard session_shard of session_shards
    // (an MPI rank's share when there are fewer files than ranks: input_share
    // in trainer/data_parallel.h). The bin edges are agreed over the ranks.
    int64_t session_shard = 0, session_shards = 1;
    // Bytes of CSV parsed at a time, over all threads (each thread parses its
    // own window of window_bytes / threads, whole sessions; a file that does
    // not keep each session's lines together is parsed whole): with the track
    // table and the output, what bounds the ingest's memory.
    int64_t window_bytes = int64_t{16} << 20;
    IngestProgressCallback progress;
    // A sink for a second form of the same sessions (the LSTM's sequences,
    // sequence_cache.h): each window's joined data in pass 2, with the track
    // standardiser, each session's hash and whether it is held out (1) or
    // trains (0).
    std::function<void(const MssdData& data, const TrackStandardiser& standardiser, const std::vector<uint64_t>& hashes,
                       const std::vector<uint8_t>& held_out)>
        on_window;
};

// Whether the session with this hash is in the held-out split: depends on
// split_seed and the session id alone.
bool held_out_session(uint64_t hash, double test_fraction, uint64_t split_seed);

// A source file as the cache records it, to notice when it changes.
struct SourceFile {
    std::string path;
    int64_t bytes = 0;
    int64_t mtime_ns = 0;
};
SourceFile source_file(const std::string& path);

// The bin-fitting sample, as LightGBM's bin_construct_sample_cnt, but drawn by
// session: the rows of the sessions with the smallest (hash, id), taken in that
// order until they hold at least target_rows rows. Which sessions those are
// depends on the ids alone. Samples taken over disjoint shards of the files
// (one per MPI rank) merge into the sample of all of them.
class BinSample {
public:
    explicit BinSample(int64_t target_rows) : target_rows_(target_rows) {}
    // Sessions hashing above this cannot enter any more.
    uint64_t threshold() const;
    // One session's rows, row-major, `width` floats each.
    void add(uint64_t hash, const std::string& session_id, std::vector<float> rows, int64_t width);
    void merge(const BinSample& other);
    int64_t rows() const { return rows_; }
    int64_t width() const { return width_; }
    // The sessions held, by (hash, id): each one's rows, row-major.
    const std::map<std::pair<uint64_t, std::string>, std::vector<float>>& sessions() const { return sessions_; }
    // f32 [rows, width] in (hash, id) order.
    Tensor matrix() const;

private:
    void trim();
    int64_t target_rows_;
    int64_t rows_ = 0;
    int64_t width_ = 0;
    std::map<std::pair<uint64_t, std::string>, std::vector<float>> sessions_;
};

// Fits the edges of every session-row feature on the sample (through the
// GBDT's own fitting, so in-memory and streamed training bin alike).
std::vector<gbdt::FeatureBins> fit_session_row_bins(const BinSample& sample, const TabularDataset& schema,
                                                    int64_t max_bin);

struct SessionRowIngest {
    gbdt::BinnedDataset train, test;
    std::vector<SourceFile> sources;  // the log files, then the track files
    int64_t log_rows = 0;             // per pass
    int64_t sessions = 0;
    int64_t disk_bytes = 0;           // of the log files
    double seconds = 0.0;             // the whole ingest, of which:
    double scan_seconds = 0.0;        //   pass 1 (the session-id column)
    double track_seconds = 0.0;       //   the track table
    double sample_seconds = 0.0;      //   the bin sample and its edges (pass 2 is the rest)
    double spanning_seconds = 0.0;    // of scan_seconds: the spanning check across ranks (0 with one process)
};

SessionRowIngest ingest_session_rows(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                                     const IngestOptions& options);

// The error of a session found in two log files: at its first line in
// `path`, naming the other file (the spanning check, on one rank or across ranks).
DataError spanning_session_error(const std::string& path, int64_t line, const std::string& session_id,
                                 const std::string& other_path);

// The key a session row's random draws are made on: its session and position.
uint64_t session_row_key(uint64_t session_hash, int32_t position);

// Rows [begin, end) of a binned set as floats that fall in the same bins: a
// numeric bin's upper bound (rounded down to a float), a category's code, NaN
// for the missing bin. A model trained on the set predicts on them exactly as
// on the rows it was trained on.
Tensor representative_rows(const gbdt::BinnedDataset& data, int64_t begin, int64_t end);

}  // namespace skipper::data
