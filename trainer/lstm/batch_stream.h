// Streaming the LSTM's mini-batches: the order an epoch visits its items in,
// and a prefetch thread that assembles the next batch while the network
// trains on the current one. The same procedure serves data in memory and
// data mapped from a dataset cache (trainer/data/sequence_cache.h), so the two
// train the same model bit for bit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "trainer/lstm/batch.h"

namespace skipper::lstm {

// A bounded shuffle: the items (in storage order) are cut into blocks of
// `block` consecutive items, the blocks are shuffled over the whole data
// (so across the files it came from), and then each run of `window`
// consecutive items of that order is shuffled within itself. A window touches
// at most window/block + 1 blocks of storage, so reading the data in this
// order keeps a bounded part of a mapped cache in memory: the kernel maps a
// file in folios of up to 2 MB, so what a window holds resident is about
// (blocks per window) x (sections) x (folio), whatever the data's size;
// 16 blocks of 512 sessions keep that near 256 MB at worst. With
// window >= the item count, every permutation is possible.
struct ShuffleShape {
    int64_t block = 512;
    int64_t window = 8192;
};

// The order of epoch `epoch` (from 1): a permutation of `items`, a function of
// (items, seed, epoch, shape) alone.
std::vector<int64_t> epoch_order(const std::vector<int64_t>& items, uint64_t seed, int64_t epoch,
                                 const ShuffleShape& shape = {});

// A source seen through a list of its items (the validation sessions held out
// of a training set, read in place rather than copied).
class SubsetSource final : public BatchSource {
public:
    SubsetSource(const BatchSource& inner, std::vector<int64_t> items) : inner_(inner), items_(std::move(items)) {}
    int64_t items() const override { return static_cast<int64_t>(items_.size()); }
    int64_t steps() const override { return inner_.steps(); }
    double fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask, float* targets,
                float* weights, int32_t* tracks) const override;
    int64_t step_offset(int64_t item) const override { return inner_.step_offset(items_[static_cast<size_t>(item)]); }

private:
    const BatchSource& inner_;
    std::vector<int64_t> items_;
};

// Assembles `batches` (each a list of the source's items) in order on its own
// thread, at most `depth` ahead of the consumer. next() hands them out; an
// exception thrown while assembling is rethrown by next() once the batches
// before it are consumed. The destructor stops and joins the thread, also
// when the consumer stops early or throws.
class BatchPrefetcher {
public:
    BatchPrefetcher(const BatchSource& source, std::vector<std::vector<int64_t>> batches, int64_t batch_width,
                    HostBatch prototype, int depth = 2);
    // The same with a width per batch (none wider than the prototype's
    // buffers): batch i is laid out with widths[i] columns in the first
    // values of its buffers (a data-parallel rank's part of each global
    // batch, as wide as that part).
    BatchPrefetcher(const BatchSource& source, std::vector<std::vector<int64_t>> batches, std::vector<int64_t> widths,
                    HostBatch prototype, int depth = 2);
    BatchPrefetcher(const BatchPrefetcher&) = delete;
    BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;
    ~BatchPrefetcher() = default;  // thread_ (declared last) stops and joins first

    // The next batch, valid until the following call; null after the last.
    const HostBatch* next();

private:
    void produce(const std::stop_token& stop);

    const BatchSource& source_;
    const std::vector<std::vector<int64_t>> batches_;
    const std::vector<int64_t> widths_;
    std::vector<HostBatch> slots_;
    std::mutex mutex_;
    std::condition_variable_any changed_;
    std::deque<size_t> free_, ready_;
    size_t held_ = SIZE_MAX;  // the slot the consumer holds
    bool finished_ = false;
    std::exception_ptr error_;
    std::jthread thread_;
};

}  // namespace skipper::lstm
