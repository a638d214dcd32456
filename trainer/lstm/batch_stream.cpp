#include "trainer/lstm/batch_stream.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "kernels/cpu/random.h"

namespace skipper::lstm {

namespace {

// Fisher-Yates driven by counter_hash(key, i): the same permutation on every
// platform and standard library (std::shuffle's algorithm is not specified).
template <class T>
void shuffle(T* x, size_t n, uint64_t key) {
    for (size_t i = n; i > 1; --i) {
        const size_t j = static_cast<size_t>(counter_hash(key, i) % i);
        std::swap(x[i - 1], x[j]);
    }
}

}  // namespace

std::vector<int64_t> epoch_order(const std::vector<int64_t>& items, uint64_t seed, int64_t epoch,
                                 const ShuffleShape& shape) {
    if (shape.block < 1 || shape.window < 1)
        throw Error("epoch_order: block and window must be at least 1, got " + std::to_string(shape.block) + " and " +
                    std::to_string(shape.window));
    const uint64_t key = counter_hash(seed, static_cast<uint64_t>(epoch));
    const size_t n = items.size(), block = static_cast<size_t>(shape.block);
    std::vector<size_t> blocks((n + block - 1) / block);
    std::iota(blocks.begin(), blocks.end(), size_t{0});
    shuffle(blocks.data(), blocks.size(), counter_hash(key, 0));
    std::vector<int64_t> order;
    order.reserve(n);
    for (size_t b : blocks)
        order.insert(order.end(), items.begin() + static_cast<std::ptrdiff_t>(b * block),
                     items.begin() + static_cast<std::ptrdiff_t>(std::min(n, (b + 1) * block)));
    const size_t window = static_cast<size_t>(shape.window);
    for (size_t begin = 0, w = 1; begin < n; begin += window, ++w)
        shuffle(order.data() + begin, std::min(window, n - begin), counter_hash(key, w));
    return order;
}

double SubsetSource::fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask,
                          float* targets, float* weights, int32_t* tracks) const {
    std::vector<int64_t> inner(indices.size());
    for (size_t i = 0; i < indices.size(); ++i) inner[i] = items_[static_cast<size_t>(indices[i])];
    return inner_.fill(inner, batch, inputs, mask, targets, weights, tracks);
}

BatchPrefetcher::BatchPrefetcher(const BatchSource& source, std::vector<std::vector<int64_t>> batches,
                                 int64_t batch_width, HostBatch prototype, int depth)
    : BatchPrefetcher(source, batches, std::vector<int64_t>(batches.size(), batch_width), std::move(prototype), depth) {}

BatchPrefetcher::BatchPrefetcher(const BatchSource& source, std::vector<std::vector<int64_t>> batches,
                                 std::vector<int64_t> widths, HostBatch prototype, int depth)
    : source_(source), batches_(std::move(batches)), widths_(std::move(widths)) {
    if (depth < 1) throw Error("BatchPrefetcher: depth must be at least 1");
    if (widths_.size() != batches_.size())
        throw Error("BatchPrefetcher: " + std::to_string(widths_.size()) + " widths for " +
                    std::to_string(batches_.size()) + " batches");
    const size_t columns = prototype.mask.size() / static_cast<size_t>(std::max<int64_t>(source.steps(), 1));
    for (size_t i = 0; i < batches_.size(); ++i)
        if (static_cast<int64_t>(batches_[i].size()) > widths_[i] || static_cast<size_t>(widths_[i]) > columns)
            throw Error("BatchPrefetcher: a batch of " + std::to_string(batches_[i].size()) + " items for a width of " +
                        std::to_string(widths_[i]) + " in buffers of " + std::to_string(columns));
    // One slot for the consumer, `depth` being filled or waiting.
    slots_.assign(static_cast<size_t>(depth) + 1, prototype);
    for (size_t i = 0; i < slots_.size(); ++i) free_.push_back(i);
    thread_ = std::jthread([this](std::stop_token stop) { produce(stop); });
}

void BatchPrefetcher::produce(const std::stop_token& stop) {
    for (size_t i = 0; i < batches_.size(); ++i) {
        size_t slot = 0;
        {
            std::unique_lock lock(mutex_);
            if (!changed_.wait(lock, stop, [&] { return !free_.empty(); })) return;
            slot = free_.front();
            free_.pop_front();
        }
        try {
            slots_[slot].fill(source_, batches_[i], widths_[i]);
        } catch (...) {
            std::lock_guard lock(mutex_);
            error_ = std::current_exception();
            finished_ = true;
            changed_.notify_all();
            return;
        }
        std::lock_guard lock(mutex_);
        ready_.push_back(slot);
        changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    changed_.notify_all();
}

const HostBatch* BatchPrefetcher::next() {
    std::unique_lock lock(mutex_);
    if (held_ != SIZE_MAX) {
        free_.push_back(held_);
        held_ = SIZE_MAX;
        changed_.notify_all();
    }
    changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
    if (!ready_.empty()) {
        held_ = ready_.front();
        ready_.pop_front();
        return &slots_[held_];
    }
    if (error_) std::rethrow_exception(error_);
    return nullptr;
}

}  // namespace skipper::lstm
