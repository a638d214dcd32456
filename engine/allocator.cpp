#include "engine/allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>

#include "engine/cuda_device.h"
#include "engine/error.h"

namespace skipper {

size_t allocation_size_class(size_t bytes) {
    // 256-byte granules below 1 MiB; above it, quarter steps between powers of
    // two, so that a cached block wastes at most a quarter of its size.
    if (bytes <= (size_t(1) << 20)) return ((bytes + 255) / 256) * 256;
    size_t power = size_t(1) << 20;
    while (power * 2 < bytes) power *= 2;
    const size_t step = power / 4;
    return ((bytes + step - 1) / step) * step;
}

void StreamOrderedFreeLists::put(void* ptr, size_t size, CUstream_st* stream, std::unique_ptr<FreeMarker> marker) {
    free_[size].push_back(Block{ptr, stream, std::move(marker)});
}

void* StreamOrderedFreeLists::take(size_t size, CUstream_st* stream) {
    auto it = free_.find(size);
    if (it == free_.end()) return nullptr;
    std::vector<Block>& blocks = it->second;
    auto hand_out = [&blocks](size_t index) {
        void* ptr = blocks[index].ptr;
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(index));
        return ptr;
    };
    // Same stream: ordered behind the old owner's work already. The most
    // recent is the most likely to be warm in cache.
    for (size_t i = blocks.size(); i-- > 0;)
        if (blocks[i].stream == stream) return hand_out(i);
    // Another stream: only once the old owner's work has finished.
    for (size_t i = 0; i < blocks.size(); ++i)
        if (!blocks[i].marker || blocks[i].marker->completed()) return hand_out(i);
    return nullptr;
}

std::vector<void*> StreamOrderedFreeLists::take_all() {
    std::vector<void*> all;
    for (auto& [size, blocks] : free_)
        for (const Block& block : blocks) all.push_back(block.ptr);
    free_.clear();
    return all;
}

size_t StreamOrderedFreeLists::size() const {
    size_t n = 0;
    for (const auto& [size, blocks] : free_) n += blocks.size();
    return n;
}

namespace {

class FreeListAllocator final : public CachingAllocator {
public:
    using RawAlloc = void* (*)(size_t);
    using RawFree = void (*)(void*);
    FreeListAllocator(RawAlloc raw_alloc, RawFree raw_free, FreeMarkerFactory make_marker, bool free_cache_at_exit)
        : raw_alloc_(raw_alloc),
          raw_free_(raw_free),
          make_marker_(std::move(make_marker)),
          free_cache_at_exit_(free_cache_at_exit) {}
    // Host blocks are freed so that leak checkers see a clean exit. Device
    // blocks are left to the driver: the CUDA runtime may already be torn down.
    ~FreeListAllocator() override {
        if (free_cache_at_exit_) release_cached_locked();
    }

    void* allocate(size_t bytes, CUstream_st* stream) override {
        const size_t size = allocation_size_class(bytes == 0 ? 1 : bytes);
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.requests;
        void* ptr = free_.take(size, stream);
        if (ptr != nullptr) {
            stats_.bytes_cached -= size;
            ++stats_.cache_hits;
        } else {
            ptr = raw_alloc_(size);
            if (ptr == nullptr) {
                release_cached_locked();
                ptr = raw_alloc_(size);
            }
            if (ptr == nullptr) throw std::bad_alloc();
        }
        stats_.bytes_in_use += size;
        if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
        return ptr;
    }

    void deallocate(void* ptr, size_t bytes, CUstream_st* stream) override {
        const size_t size = allocation_size_class(bytes == 0 ? 1 : bytes);
        // Recorded before taking the lock: on CUDA it is a driver call.
        std::unique_ptr<FreeMarker> marker = make_marker_(stream);
        std::lock_guard<std::mutex> lock(mutex_);
        free_.put(ptr, size, stream, std::move(marker));
        stats_.bytes_in_use -= size;
        stats_.bytes_cached += size;
    }

    void release_cached() override {
        std::lock_guard<std::mutex> lock(mutex_);
        release_cached_locked();
    }

    AllocatorStats stats() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }

private:
    // A block whose marker is pending is still read by its stream; giving it
    // back is safe all the same: cudaFree waits for the device first.
    void release_cached_locked() {
        for (void* block : free_.take_all()) raw_free_(block);
        stats_.bytes_cached = 0;
    }

    RawAlloc raw_alloc_;
    RawFree raw_free_;
    FreeMarkerFactory make_marker_;
    bool free_cache_at_exit_;
    mutable std::mutex mutex_;
    StreamOrderedFreeLists free_;
    AllocatorStats stats_;
};

// 64-byte alignment: a cache line, and the width of an AVX-512 load. Blocks
// of 2 MB and more (bins, per-row arrays) start on a 2 MB boundary and are
// asked for transparent huge pages: the GBDT gathers scattered rows from them,
// and with 4 KB pages nearly every gathered row missed the TLB. The size is
// not rounded up: a last partial 2 MB stays in 4 KB pages, so the resident
// size does not grow past the block.
constexpr size_t kHugePage = size_t{2} << 20;
void* host_alloc(size_t bytes) {
    if (bytes < kHugePage) return std::aligned_alloc(64, ((bytes + 63) / 64) * 64);
    void* ptr = nullptr;
    if (posix_memalign(&ptr, kHugePage, bytes) != 0) return nullptr;
    // Advice only: without huge pages the block works all the same.
    madvise(ptr, bytes, MADV_HUGEPAGE);
    return ptr;
}
void host_free(void* ptr) { std::free(ptr); }
// nullptr on failure, so that the allocator can release its cache and retry.
void* device_alloc(size_t bytes) {
    try {
        return cuda_malloc(bytes);
    } catch (const Error&) {
        return nullptr;
    }
}
void device_free(void* ptr) { cuda_free(ptr); }

// Host memory has no streams: every freed block is ready at once.
std::unique_ptr<FreeMarker> host_marker(CUstream_st*) { return nullptr; }

class CudaFreeMarker final : public FreeMarker {
public:
    explicit CudaFreeMarker(CUstream_st* stream) { event_.record(stream); }
    bool completed() override { return event_.query(); }

private:
    CudaEvent event_;
};

// A block freed on a stream: an event on it. Without a stream, the block's last
// user is unknown: wait for the whole device now, then it is ready.
std::unique_ptr<FreeMarker> device_marker(CUstream_st* stream) {
    if (stream == nullptr) {
        cuda_device_synchronize();
        return nullptr;
    }
    return std::make_unique<CudaFreeMarker>(stream);
}

}  // namespace

std::unique_ptr<CachingAllocator> make_caching_allocator(void* (*raw_alloc)(size_t), void (*raw_free)(void*),
                                                         FreeMarkerFactory make_marker, bool free_cache_at_exit) {
    return std::make_unique<FreeListAllocator>(raw_alloc, raw_free, std::move(make_marker), free_cache_at_exit);
}

CachingAllocator& allocator_for(Device device) {
    static FreeListAllocator host(host_alloc, host_free, host_marker, true);
    static FreeListAllocator cuda(device_alloc, device_free, device_marker, false);
    return device == Device::cpu ? static_cast<CachingAllocator&>(host) : cuda;
}

}  // namespace skipper
