// The LSTM's sequence form in the dataset cache (dataset_cache.h): the
// session task's per-session tensors, written by `skipper prepare` file by
// window by window as the ingest streams them (ingest.h on_window), and mapped by
// `train lstm dataset=FILE` and `eval`, which read them batch by batch
// (trainer/lstm/batch_stream.h) without loading them.
//
// The sections are "seq.<part>.<field>" for part train and test and each
// field of sequence_fields(): a generic list, so that a new per-step or
// per-session tensor is one entry there. The meta's "extra"."sequences"
// holds the feature names, the steps, the session counts, the fields with
// their bytes per session and the training part's standardisation (mean and
// scale per feature, fitted while writing with lstm::StandardiserFit in the
// order the in-memory path fits it, so the two agree bit for bit).
//
// One-hot columns (reason_start, reason_end, context_type) follow the
// documented category lists, as in memory; a window with a value outside
// them is refused.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/features.h"
#include "trainer/data/mssd.h"
#include "trainer/lstm/batch.h"

namespace skipper::data {

// One per-session field of a SequenceDataset as the cache stores it.
struct SequenceField {
    std::string name;
    size_t bytes_per_session = 0;
    // Session s's bytes in a dataset (contiguous).
    std::function<const uint8_t*(const SequenceDataset& data, int64_t session)> session_bytes;
    // Sets the dataset's member from `sessions` sessions' bytes in a mapping
    // that `owner` keeps alive: tensors view it, small vectors copy it.
    std::function<void(SequenceDataset& data, const uint8_t* bytes, int64_t sessions,
                       const std::shared_ptr<const void>& owner)>
        attach;
};
std::vector<SequenceField> sequence_fields(int64_t max_steps, int64_t features);

// Writes the sequence sections while the ingest streams the files: spill
// files beside the cache hold them until save_dataset_cache copies them in
// (and are removed with the writer).
class SequenceCacheWriter {
public:
    SequenceCacheWriter(std::string cache_path, int64_t max_steps = kMaxSessionSteps);
    ~SequenceCacheWriter();
    SequenceCacheWriter(const SequenceCacheWriter&) = delete;
    SequenceCacheWriter& operator=(const SequenceCacheWriter&) = delete;

    // The hook for IngestOptions::on_window.
    void add_window(const MssdData& data, const TrackStandardiser& standardiser, const std::vector<uint64_t>& hashes,
                    const std::vector<uint8_t>& held_out);
    // Adds the sections and their meta to the cache about to be saved.
    void finish(DatasetCache& cache);

private:
    struct Spill;
    void open_spills(int64_t features);

    std::string cache_path_;
    int64_t max_steps_;
    std::vector<std::string> names_;  // fixed by the first window
    std::vector<SequenceField> fields_;
    std::vector<std::unique_ptr<Spill>> spills_;  // [part * fields + field]
    std::unique_ptr<lstm::StandardiserFit> fit_;
    int64_t sessions_[2] = {0, 0};
};

struct SequenceCache {
    SequenceDataset train, test;  // views of the mapping; read_bytes drops pages as they are read
    lstm::Standardiser standardiser;  // the training part's
};

// The sequences of a loaded cache (DataError naming `path` when it has none,
// or they do not fit their meta). After every `resident_bytes` read, the
// mapped sequences' pages are dropped. What stays resident is the folios the
// reads touched, up to 2 MB each (a session's fields lie in separate
// sections), so this is kept small: 8 MB is about 1,400 sessions, and
// dropping and refaulting costs far less than the LSTM's step on them.
SequenceCache load_sequence_cache(const DatasetCache& cache, const std::string& path,
                                  size_t resident_bytes = size_t{8} << 20);

}  // namespace skipper::data
