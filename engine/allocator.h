// Caching allocators, one per device. Training loops ask for the same sizes every
// step; a freed block goes to a free list keyed by its rounded size instead of
// back to the system, so the next request of that size costs a list pop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/tensor.h"

namespace skipper {

struct AllocatorStats {
    uint64_t requests = 0;      // allocate() calls
    uint64_t cache_hits = 0;    // served from a free list
    size_t bytes_in_use = 0;    // handed out and not yet returned
    size_t bytes_cached = 0;    // held in free lists
    size_t peak_bytes_in_use = 0;
};

class CachingAllocator {
public:
    virtual ~CachingAllocator() = default;
    virtual void* allocate(size_t bytes) = 0;
    virtual void deallocate(void* ptr, size_t bytes) = 0;
    // Returns every cached block to the system.
    virtual void release_cached() = 0;
    virtual AllocatorStats stats() const = 0;
};

// The process-wide allocator of a device. Lives until exit.
CachingAllocator& allocator_for(Device device);

// Requests are rounded up to this so that near sizes share free lists.
size_t allocation_size_class(size_t bytes);

}  // namespace skipper
