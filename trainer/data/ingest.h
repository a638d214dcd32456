// Streaming ingest: the session task's GBDT rows built file by file into one
// byte per feature, without ever holding the CSV or the float feature matrix
// of more than one file.
//
// Two passes over the log files, each file read whole and parsed in parallel:
// 1. the bin sample: the session rows of the sessions with the smallest
//    session-id hashes (BinSample), the spanning check (a session in two files
//    is an error) and the row counts, so that pass 2 writes into buffers of
//    the final size;
// 2. every file again: its session rows (build_session_rows, the in-memory
//    builder itself, on that file's sessions), binned with the edges fitted on
//    the sample, each session to train or test by a hash of its id.
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

#include "trainer/data/dataset.h"
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
    IngestProgressCallback progress;
    // Sinks for a second form of the same sessions (the LSTM's sequences,
    // sequence_cache.h): on_log sees each file's whole log in pass 1; on_file
    // sees each file's joined data in pass 2, with each session's hash and
    // whether it is held out (1) or trains (0).
    std::function<void(const SessionLog& log)> on_log;
    std::function<void(const MssdData& data, const std::vector<uint64_t>& hashes, const std::vector<uint8_t>& held_out)>
        on_file;
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
    int64_t disk_bytes = 0;           // per pass
    double seconds = 0.0;
};

SessionRowIngest ingest_session_rows(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                                     const IngestOptions& options);

// The key a session row's random draws are made on: its session and position.
uint64_t session_row_key(uint64_t session_hash, int32_t position);

// Rows [begin, end) of a binned set as floats that fall in the same bins: a
// numeric bin's upper bound (rounded down to a float), a category's code, NaN
// for the missing bin. A model trained on the set predicts on them exactly as
// on the rows it was trained on.
Tensor representative_rows(const gbdt::BinnedDataset& data, int64_t begin, int64_t end);

}  // namespace skipper::data
