// Host-side batch assembly for the LSTM: datasets (item-major, raw feature
// values) -> the network's time-major, standardised, right-padded batches.
// This is data loading, done on the host; the network's compute stays on its
// device.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/batch_upload.h"
#include "engine/tensor.h"
#include "trainer/data/dataset.h"
#include "trainer/lstm/network.h"

namespace skipper::lstm {

// x' = (x - mean) / scale per feature; a missing value (NaN) becomes 0, the mean.
struct Standardiser {
    std::vector<double> mean;
    std::vector<double> scale;
};
// Mean and standard deviation per feature over the present values (and, for
// sequences, the real steps); a constant feature gets scale 1.
Standardiser fit_standardiser(const data::TabularDataset& data);
Standardiser fit_standardiser(const data::SequenceDataset& data);

// The running sums behind fit_standardiser, for data that arrives in parts
// (the dataset cache's, file by file). Parts added in the order of the whole
// give the whole's standardiser bit for bit.
class StandardiserFit {
public:
    explicit StandardiserFit(size_t features) : sum_(features, 0.0), sum_sq_(features, 0.0), count_(features, 0) {}
    // `cells` steps of `features` values each; those whose mask is 0 are skipped.
    void add_steps(const float* x, const float* step_mask, int64_t cells);
    // One row of values (NaN skipped).
    void add_row(const float* x);
    Standardiser finish() const;
    // The running sums as one vector ([sums | sums of squares | counts], per
    // feature), and their addition to these: the form in which the ranks of a
    // data-parallel job add up their parts.
    std::vector<double> sums() const;
    void add_sums(const std::vector<double>& sums);

private:
    std::vector<double> sum_, sum_sq_;
    std::vector<int64_t> count_;
};

// A dataset seen as items (rows or sessions) of `steps` time steps.
class BatchSource {
public:
    virtual ~BatchSource() = default;
    virtual int64_t items() const = 0;
    virtual int64_t steps() const = 0;
    // Writes items[indices[b]] into column b of zeroed time-major host buffers
    // of batch width `batch`: inputs [T, B, F], mask [T, B], targets and
    // weights [T, B] or [B], and, when `tracks` is given, each step's
    // embedding row [T, B] into a buffer of -1. Returns the sum of the loss
    // weights written.
    virtual double fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask,
                        float* targets, float* weights, int32_t* tracks) const = 0;
    // The batch step that holds the item's step 0 (its outputs are shifted
    // by as much); 0 unless the source aligns items otherwise.
    virtual int64_t step_offset(int64_t /*item*/) const { return 0; }
};

// seed arch: each row's features are the steps of a 1-dim sequence; the label
// is the sequence's target.
class TabularSource final : public BatchSource {
public:
    TabularSource(const data::TabularDataset& data, Standardiser standardiser);
    int64_t items() const override { return rows_; }
    int64_t steps() const override { return features_; }
    // Rows have no tracks: `tracks` must be null.
    double fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask, float* targets,
                float* weights, int32_t* tracks) const override;

private:
    const data::TabularDataset& data_;
    Standardiser standardiser_;
    int64_t rows_, features_;
};

// session arch: one step per track; targets are the labels of every step and
// the loss weights the predict mask. Sessions are left-aligned, or, with
// encoder_steps > 0 (the encoder-decoder), shifted so that each history ends
// at step encoder_steps - 1 and the positions to predict start at
// encoder_steps (an Error if a session does not fit). With track_rows > 0
// the steps' embedding rows are ops::hash_bucket(track_hash, track_rows)
// (the data must carry track_hash).
class SequenceSource final : public BatchSource {
public:
    SequenceSource(const data::SequenceDataset& data, Standardiser standardiser, int64_t encoder_steps = 0,
                   int64_t track_rows = 0);
    int64_t step_offset(int64_t item) const override { return offsets_.empty() ? 0 : offsets_[static_cast<size_t>(item)]; }
    int64_t items() const override { return sessions_; }
    int64_t steps() const override { return steps_; }
    double fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask, float* targets,
                float* weights, int32_t* tracks) const override;
    // Table rows of the items `items` with fewer than `min_count` steps (the
    // rows of tracks seen too rarely to learn their own row).
    std::vector<int64_t> rare_rows(const std::vector<int64_t>& items, int64_t min_count) const;
    // The steps of the items `items` per table row (what rare_rows counts;
    // the ranks of a data-parallel job sum theirs).
    std::vector<int64_t> row_counts(const std::vector<int64_t>& items) const;
    // From now on, steps whose row is in `rows` embed nothing (-1).
    void exclude_rows(const std::vector<int64_t>& rows);

private:
    int32_t row_of(int32_t track_hash) const;

    const data::SequenceDataset& data_;
    Standardiser standardiser_;
    int64_t sessions_, steps_, features_;
    int64_t track_rows_;
    std::vector<bool> excluded_;  // per table row; empty: none
    std::vector<int64_t> offsets_;  // per session, when shifted
};

// The table rows counted fewer than `min_count` times.
std::vector<int64_t> rows_below(const std::vector<int64_t>& counts, int64_t min_count);

// One batch assembled on the host, in the network's time-major layout (a
// prefetch thread fills one while the network trains on another).
struct HostBatch {
    std::vector<float> inputs, mask, targets, weights;
    std::vector<int32_t> tracks;  // each step's embedding row; empty without a track embedding
    double weight_sum = 0.0;
    // Zeroes the buffers and writes `indices` of `source` into them; items
    // beyond indices.size() are padding (mask 0, weight 0).
    void fill(const BatchSource& source, const std::vector<int64_t>& indices, int64_t batch);
};

// Fills an f32 network's batch buffers from a source: on the CPU in place, on
// CUDA through host staging buffers allocated once.
class BatchStaging {
public:
    BatchStaging(LstmNetwork& net, int64_t steps, int64_t batch);
    // Items beyond indices.size() are padding (mask 0, weight 0). Returns the
    // sum of the loss weights.
    double fill(const BatchSource& source, const std::vector<int64_t>& indices);
    // A host batch of this staging's shape, zeroed.
    HostBatch make_host_batch() const;
    // Loads a batch assembled elsewhere (HostBatch::fill, with this staging's
    // width; its buffers may be wider); returns its weight sum.
    double load(const HostBatch& batch);

private:
    LstmBatch& device_batch();  // the network's buffers, re-shaped if it was used otherwise since
    void upload(const LstmBatch& device);

    LstmNetwork& net_;
    int64_t steps_, batch_;
    LstmBatch host_;  // the network's own buffers when it runs on the CPU
    BatchUploader uploader_;  // pinned, double-buffered, asynchronous on CUDA
};

}  // namespace skipper::lstm
