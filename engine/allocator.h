// Caching allocators, one per device. Training loops ask for the same sizes every
// step; a freed block goes to a free list keyed by its rounded size instead of
// back to the system, so the next request of that size costs a list pop.
//
// Stream order (CUDA): kernels run asynchronously on streams, so a block's last
// user may still be running when its tensor is destroyed. Every block carries
// the stream its work is queued on (nullptr: no stream, host-ordered use). A
// freed block is handed
// - at once to a request on the same stream: that stream runs the new owner's
//   work after the old owner's;
// - to a request on any other stream only after an event recorded on its stream
//   at free time has completed (FreeMarker below).
// A CUDA block freed without a stream waits for the whole device at free time.
// The bookkeeping (StreamOrderedFreeLists) is plain C++ and is tested on the
// host with fake streams and markers (tests/engine/allocator_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "engine/tensor.h"

struct CUstream_st;

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
    // `stream`: the stream the block's work will be queued on (nullptr: none).
    virtual void* allocate(size_t bytes, CUstream_st* stream) = 0;
    // `stream`: the one given to allocate.
    virtual void deallocate(void* ptr, size_t bytes, CUstream_st* stream) = 0;
    // Returns every cached block to the system.
    virtual void release_cached() = 0;
    virtual AllocatorStats stats() const = 0;
};

// Recorded on a block's stream when it is freed; completed() once the stream
// has run all the work queued before the free (on CUDA: an event).
class FreeMarker {
public:
    virtual ~FreeMarker() = default;
    virtual bool completed() = 0;
};
// Makes the marker for a block freed on `stream`; nullptr means "already complete".
using FreeMarkerFactory = std::function<std::unique_ptr<FreeMarker>(CUstream_st* stream)>;

// The free lists of a caching allocator, ordered by stream as described above.
// Not thread-safe: the allocator holds its lock around every call.
class StreamOrderedFreeLists {
public:
    // A block of rounded size `size`, last used on `stream`, with its marker.
    void put(void* ptr, size_t size, CUstream_st* stream, std::unique_ptr<FreeMarker> marker);
    // A cached block of `size` that work on `stream` may use now, or nullptr:
    // the most recently freed one of the same stream first, else the oldest
    // one whose marker has completed.
    void* take(size_t size, CUstream_st* stream);
    // Empties the lists, returning every block (to give back to the system).
    std::vector<void*> take_all();
    size_t size() const;

private:
    struct Block {
        void* ptr;
        CUstream_st* stream;
        std::unique_ptr<FreeMarker> marker;  // nullptr: complete
    };
    std::map<size_t, std::vector<Block>> free_;
};

// A caching allocator over raw_alloc/raw_free (raw_alloc returns nullptr when
// out of memory), with `make_marker` for frees on a stream. free_cache_at_exit:
// give cached blocks back on destruction. The devices' allocators are two of
// these; tests build their own over host memory.
std::unique_ptr<CachingAllocator> make_caching_allocator(void* (*raw_alloc)(size_t), void (*raw_free)(void*),
                                                         FreeMarkerFactory make_marker, bool free_cache_at_exit);

// The process-wide allocator of a device. Lives until exit.
CachingAllocator& allocator_for(Device device);

// Requests are rounded up to this so that near sizes share free lists.
size_t allocation_size_class(size_t bytes);

}  // namespace skipper
