// The caching allocator's stream order (engine/allocator.h), on the host with
// fake streams and markers that the test completes by hand: a block freed on
// stream A is reused at once on A, and on another stream only once A's free
// marker has completed. The CUDA allocator runs this same logic with CUDA
// events as markers.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/allocator.h"

namespace skipper {
namespace {

CUstream_st* fake_stream(uintptr_t id) { return reinterpret_cast<CUstream_st*>(id); }
void* fake_block(uintptr_t id) { return reinterpret_cast<void*>(id * 4096); }

// A marker the test completes by hand.
class ManualMarker final : public FreeMarker {
public:
    explicit ManualMarker(std::shared_ptr<bool> done) : done_(std::move(done)) {}
    bool completed() override { return *done_; }

private:
    std::shared_ptr<bool> done_;
};

struct PendingMarker {
    std::shared_ptr<bool> done = std::make_shared<bool>(false);
    std::unique_ptr<FreeMarker> make() const { return std::make_unique<ManualMarker>(done); }
};

TEST(StreamOrderedFreeLists, SameStreamReusesAtOnceOtherStreamsWaitForTheMarker) {
    StreamOrderedFreeLists lists;
    CUstream_st* a = fake_stream(1);
    CUstream_st* b = fake_stream(2);
    PendingMarker marker;
    lists.put(fake_block(1), 256, a, marker.make());
    EXPECT_EQ(lists.take(256, b), nullptr) << "stream A may still be using the block";
    EXPECT_EQ(lists.take(512, a), nullptr) << "another size class";
    EXPECT_EQ(lists.take(256, a), fake_block(1)) << "stream A orders its own reuse";
    EXPECT_EQ(lists.size(), 0u);

    lists.put(fake_block(1), 256, a, marker.make());
    EXPECT_EQ(lists.take(256, b), nullptr);
    *marker.done = true;
    EXPECT_EQ(lists.take(256, b), fake_block(1)) << "A's work before the free has finished";
}

TEST(StreamOrderedFreeLists, PrefersTheNewestOfTheSameStreamAndTheOldestCompletedOtherwise) {
    StreamOrderedFreeLists lists;
    CUstream_st* a = fake_stream(1);
    CUstream_st* b = fake_stream(2);
    CUstream_st* c = fake_stream(3);
    PendingMarker first, second, third;
    *first.done = true;
    *second.done = true;
    lists.put(fake_block(1), 256, a, first.make());
    lists.put(fake_block(2), 256, b, second.make());
    lists.put(fake_block(3), 256, a, third.make());
    EXPECT_EQ(lists.take(256, a), fake_block(3));
    EXPECT_EQ(lists.take(256, c), fake_block(1));
    EXPECT_EQ(lists.take(256, c), fake_block(2));
    EXPECT_EQ(lists.take(256, c), nullptr);
}

TEST(StreamOrderedFreeLists, ABlockWithoutAMarkerIsReadyForEveryStream) {
    StreamOrderedFreeLists lists;
    lists.put(fake_block(1), 256, nullptr, nullptr);
    EXPECT_EQ(lists.take(256, fake_stream(7)), fake_block(1));
    lists.put(fake_block(2), 256, fake_stream(1), nullptr);
    lists.put(fake_block(3), 1024, fake_stream(1), nullptr);
    const auto all = lists.take_all();
    EXPECT_EQ(all.size(), 2u);
    EXPECT_EQ(lists.size(), 0u);
}

// The whole allocator over host memory, with the fake markers: the order holds
// through allocate/deallocate, and the statistics count hits and misses.
TEST(CachingAllocatorStreams, AllocatorHandsBlocksAcrossStreamsOnlyAfterTheirMarker) {
    std::vector<std::shared_ptr<bool>> markers;
    auto allocator = make_caching_allocator(
        std::malloc, std::free,
        [&markers](CUstream_st* stream) -> std::unique_ptr<FreeMarker> {
            if (stream == nullptr) return nullptr;
            markers.push_back(std::make_shared<bool>(false));
            return std::make_unique<ManualMarker>(markers.back());
        },
        true);
    CUstream_st* a = fake_stream(1);
    CUstream_st* b = fake_stream(2);
    void* first = allocator->allocate(1000, a);
    allocator->deallocate(first, 1000, a);
    ASSERT_EQ(markers.size(), 1u) << "a marker recorded on A at free time";
    void* on_b = allocator->allocate(1000, b);
    EXPECT_NE(on_b, first) << "B must not get a block A may still use";
    void* on_a = allocator->allocate(1000, a);
    EXPECT_EQ(on_a, first);
    allocator->deallocate(on_a, 1000, a);
    *markers.back() = true;
    void* again_on_b = allocator->allocate(1000, b);
    EXPECT_EQ(again_on_b, first);
    const AllocatorStats stats = allocator->stats();
    EXPECT_EQ(stats.requests, 4u);
    EXPECT_EQ(stats.cache_hits, 2u);
    allocator->deallocate(on_b, 1000, b);
    allocator->deallocate(again_on_b, 1000, b);
}

}  // namespace
}  // namespace skipper
