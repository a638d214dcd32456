#include "engine/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

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

namespace {

class FreeListAllocator final : public CachingAllocator {
public:
    using RawAlloc = void* (*)(size_t);
    using RawFree = void (*)(void*);
    FreeListAllocator(RawAlloc raw_alloc, RawFree raw_free, bool free_cache_at_exit)
        : raw_alloc_(raw_alloc), raw_free_(raw_free), free_cache_at_exit_(free_cache_at_exit) {}
    // Host blocks are freed so that leak checkers see a clean exit. Device
    // blocks are left to the driver: the CUDA runtime may already be torn down.
    ~FreeListAllocator() override {
        if (free_cache_at_exit_) release_cached_locked();
    }

    void* allocate(size_t bytes) override {
        const size_t size = allocation_size_class(bytes == 0 ? 1 : bytes);
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.requests;
        void* ptr = nullptr;
        auto it = free_.find(size);
        if (it != free_.end() && !it->second.empty()) {
            ptr = it->second.back();
            it->second.pop_back();
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

    void deallocate(void* ptr, size_t bytes) override {
        const size_t size = allocation_size_class(bytes == 0 ? 1 : bytes);
        std::lock_guard<std::mutex> lock(mutex_);
        free_[size].push_back(ptr);
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
    void release_cached_locked() {
        for (auto& [size, blocks] : free_)
            for (void* block : blocks) raw_free_(block);
        free_.clear();
        stats_.bytes_cached = 0;
    }

    RawAlloc raw_alloc_;
    RawFree raw_free_;
    bool free_cache_at_exit_;
    mutable std::mutex mutex_;
    std::map<size_t, std::vector<void*>> free_;
    AllocatorStats stats_;
};

// 64-byte alignment: a cache line, and the width of an AVX-512 load.
void* host_alloc(size_t bytes) { return std::aligned_alloc(64, ((bytes + 63) / 64) * 64); }
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

}  // namespace

CachingAllocator& allocator_for(Device device) {
    static FreeListAllocator host(host_alloc, host_free, true);
    static FreeListAllocator cuda(device_alloc, device_free, false);
    return device == Device::cpu ? static_cast<CachingAllocator&>(host) : cuda;
}

}  // namespace skipper
