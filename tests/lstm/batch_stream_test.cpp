// The LSTM's batch streaming: the bounded window shuffle is a deterministic
// permutation that stays within its window; the prefetch thread hands out
// exactly the batches a direct fill gives, in order, passes an error on after
// the batches before it, and stops cleanly when its consumer stops early.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <set>
#include <stdexcept>

#include "engine/error.h"
#include "trainer/lstm/batch_stream.h"

namespace skipper::lstm {
namespace {

std::vector<int64_t> iota_items(int64_t n, int64_t start = 0) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), start);
    return v;
}

TEST(EpochOrder, IsAPermutationAndDeterministic) {
    for (const int64_t n : {0, 1, 2, 7, 64, 1000, 10007})
        for (const ShuffleShape shape : {ShuffleShape{1, 1}, ShuffleShape{1, 100}, ShuffleShape{64, 8192},
                                         ShuffleShape{7, 30}, ShuffleShape{1000, 1000}}) {
            // Items that are not 0..n-1 (the training part of a split).
            const std::vector<int64_t> items = iota_items(n, 5);
            const auto order = epoch_order(items, 42, 3, shape);
            auto sorted = order;
            std::sort(sorted.begin(), sorted.end());
            EXPECT_EQ(sorted, items) << "n " << n << " block " << shape.block << " window " << shape.window;
            EXPECT_EQ(order, epoch_order(items, 42, 3, shape));
            if (n >= 64 && shape.window > 1) {
                EXPECT_NE(order, epoch_order(items, 42, 4, shape)) << "another epoch, another order";
                EXPECT_NE(order, epoch_order(items, 43, 3, shape)) << "another seed, another order";
                EXPECT_NE(order, items);
            }
        }
}

TEST(EpochOrder, EachWindowReadsFewBlocks) {
    const int64_t n = 20000, block = 50, window = 1000;
    const auto order = epoch_order(iota_items(n), 7, 1, {block, window});
    for (int64_t begin = 0; begin < n; begin += window) {
        std::set<int64_t> blocks;
        for (int64_t i = begin; i < std::min(n, begin + window); ++i) blocks.insert(order[static_cast<size_t>(i)] / block);
        EXPECT_LE(static_cast<int64_t>(blocks.size()), window / block + 1) << "window at " << begin;
    }
    // ...and the blocks do travel: the first window is not the first blocks.
    std::set<int64_t> first;
    for (int64_t i = 0; i < window; ++i) first.insert(order[static_cast<size_t>(i)] / block);
    EXPECT_GT(*first.rbegin(), window / block);
}

TEST(EpochOrder, AWholeWindowShufflesEverything) {
    // With window >= n every item can land anywhere: over epochs, item 0
    // visits many positions, also inside its own block's span.
    std::set<int64_t> positions;
    const auto items = iota_items(40);
    for (int64_t epoch = 1; epoch <= 200; ++epoch) {
        const auto order = epoch_order(items, 1, epoch, {8, 40});
        positions.insert(std::find(order.begin(), order.end(), 0) - order.begin());
    }
    EXPECT_GT(positions.size(), 30u);
}

TEST(EpochOrder, RefusesAnEmptyShape) { EXPECT_THROW(epoch_order(iota_items(3), 1, 1, {0, 4}), Error); }

// Writes each item's id into its column of every step; throws on `poison`.
class IdSource final : public BatchSource {
public:
    IdSource(int64_t items, int64_t poison = -1) : items_(items), poison_(poison) {}
    int64_t items() const override { return items_; }
    int64_t steps() const override { return 3; }
    double fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask, float* targets,
                float* weights, int32_t* /*tracks*/) const override {
        ++calls;
        for (size_t b = 0; b < indices.size(); ++b) {
            if (indices[b] == poison_) throw std::runtime_error("bad item " + std::to_string(poison_));
            for (int64_t t = 0; t < 3; ++t) {
                const auto cell = static_cast<size_t>(t * batch) + b;
                inputs[cell] = static_cast<float>(indices[b]);
                mask[cell] = 1.0f;
                targets[cell] = static_cast<float>(t);
                weights[cell] = 1.0f;
            }
        }
        return static_cast<double>(indices.size());
    }
    mutable std::atomic<int> calls{0};

private:
    int64_t items_, poison_;
};

HostBatch prototype(int64_t batch) {
    HostBatch b;
    b.inputs.assign(static_cast<size_t>(3 * batch), 0.0f);
    b.mask = b.targets = b.weights = b.inputs;
    return b;
}

std::vector<std::vector<int64_t>> batches_of(const std::vector<int64_t>& order, int64_t batch) {
    std::vector<std::vector<int64_t>> out;
    for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(batch))
        out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + static_cast<size_t>(batch))));
    return out;
}

TEST(BatchPrefetcher, HandsOutTheBatchesADirectFillGivesInOrder) {
    const IdSource source(103);
    const int64_t batch = 10;
    const auto batches = batches_of(epoch_order(iota_items(103), 5, 1, {4, 30}), batch);
    BatchPrefetcher prefetcher(source, batches, batch, prototype(batch));
    for (const auto& items : batches) {
        const HostBatch* got = prefetcher.next();
        ASSERT_NE(got, nullptr);
        HostBatch want = prototype(batch);
        want.fill(source, items, batch);
        EXPECT_EQ(got->inputs, want.inputs);
        EXPECT_EQ(got->mask, want.mask);  // the short last batch's padding is zero
        EXPECT_EQ(got->targets, want.targets);
        EXPECT_EQ(got->weight_sum, want.weight_sum);
    }
    EXPECT_EQ(prefetcher.next(), nullptr);
    EXPECT_EQ(prefetcher.next(), nullptr);
}

// A width per batch (a data-parallel rank's uneven parts): each batch is the
// direct fill at its own width, in the first values of the wider buffers.
TEST(BatchPrefetcher, LaysEachBatchOutAtItsOwnWidth) {
    const IdSource source(40);
    const std::vector<std::vector<int64_t>> batches = {{3, 1, 4}, {15, 9}, {2, 6, 5, 35, 8, 7, 9, 30}, {}};
    const std::vector<int64_t> widths = {4, 2, 8, 1};
    BatchPrefetcher prefetcher(source, batches, widths, prototype(8));
    for (size_t i = 0; i < batches.size(); ++i) {
        const HostBatch* got = prefetcher.next();
        ASSERT_NE(got, nullptr);
        HostBatch want = prototype(widths[i]);
        want.fill(source, batches[i], widths[i]);
        const auto prefix = [&](const std::vector<float>& v) {
            return std::vector<float>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(3 * widths[i]));
        };
        EXPECT_EQ(prefix(got->inputs), want.inputs) << "batch " << i;
        EXPECT_EQ(prefix(got->mask), want.mask) << "batch " << i;
        EXPECT_EQ(prefix(got->targets), want.targets) << "batch " << i;
        EXPECT_EQ(got->weight_sum, want.weight_sum) << "batch " << i;
    }
    EXPECT_EQ(prefetcher.next(), nullptr);
    // A batch wider than its width, or a width wider than the buffers, is refused.
    EXPECT_THROW(BatchPrefetcher(source, {{1, 2, 3}}, std::vector<int64_t>{2}, prototype(8)), Error);
    EXPECT_THROW(BatchPrefetcher(source, {{1, 2}}, std::vector<int64_t>{9}, prototype(8)), Error);
    EXPECT_THROW(BatchPrefetcher(source, {{1, 2}}, std::vector<int64_t>{2, 2}, prototype(8)), Error);
}

TEST(BatchPrefetcher, PassesAnErrorOnAfterTheBatchesBeforeIt) {
    const IdSource source(50, 37);
    const auto batches = batches_of(iota_items(50), 10);  // item 37 is in the fourth batch
    BatchPrefetcher prefetcher(source, batches, 10, prototype(10));
    for (int b = 0; b < 3; ++b) ASSERT_NE(prefetcher.next(), nullptr);
    try {
        prefetcher.next();
        FAIL() << "the fill's error was lost";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "bad item 37");
    }
    // The thread has ended; the prefetcher is destroyed cleanly.
}

TEST(BatchPrefetcher, StopsCleanlyWhenItsConsumerStopsEarly) {
    const IdSource source(10000);
    const auto batches = batches_of(iota_items(10000), 10);
    {
        BatchPrefetcher prefetcher(source, batches, 10, prototype(10), 2);
        ASSERT_NE(prefetcher.next(), nullptr);
        // The consumer throws here, say: the prefetcher goes out of scope with
        // its thread blocked on a full queue.
    }
    // It filled the one taken, the two queued and at most one more: it stops
    // rather than running through the epoch.
    EXPECT_LE(source.calls.load(), 4);
    // Destroyed before the first batch was ever taken.
    { BatchPrefetcher prefetcher(source, batches, 10, prototype(10)); }
}

TEST(BatchPrefetcher, RefusesABatchWiderThanItsBuffers) {
    const IdSource source(30);
    EXPECT_THROW(BatchPrefetcher(source, {iota_items(11)}, 10, prototype(10)), Error);
}

}  // namespace
}  // namespace skipper::lstm
