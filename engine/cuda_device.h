// The few CUDA runtime services the engine needs, behind plain C++ types so that
// code compiled without nvcc can hold streams and move bytes. In a build without
// CUDA every call here throws, and cuda_available() is false.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct CUstream_st;
struct CUevent_st;
struct cublasContext;
struct CUgraph_st;
struct CUgraphExec_st;

namespace skipper {

void* cuda_malloc(size_t bytes);
void cuda_free(void* ptr);
void cuda_memcpy_to_device(void* dst, const void* src, size_t bytes);
void cuda_memcpy_to_host(void* dst, const void* src, size_t bytes);
void cuda_memcpy_device_to_device(void* dst, const void* src, size_t bytes);
// Queued on `stream`, no host wait: asynchronous only from pinned host memory.
void cuda_memcpy_to_device_async(void* dst, const void* src, size_t bytes, CUstream_st* stream);
void cuda_memcpy_device_to_device_async(void* dst, const void* src, size_t bytes, CUstream_st* stream);
// Zeroes `bytes` at `dst`, queued on `stream` (nullptr: the legacy default stream).
void cuda_memset_zero_async(void* dst, size_t bytes, CUstream_st* stream);
// Waits for the work queued on the legacy default stream.
void cuda_default_stream_synchronize();
void cuda_device_synchronize();
std::string cuda_device_name();
// "runtime 13.0, driver 13.0" (the driver part only where a driver is installed).
std::string cuda_versions();

// A non-blocking CUDA stream, destroyed with its owner.
class CudaStream {
public:
    CudaStream();
    ~CudaStream();
    CudaStream(const CudaStream&) = delete;
    CudaStream& operator=(const CudaStream&) = delete;
    CUstream_st* get() const { return stream_; }
    void synchronize() const;

private:
    CUstream_st* stream_ = nullptr;
};

// An event used to order work between streams without blocking the host.
class CudaEvent {
public:
    // timing = false makes a lighter event that cannot be used for elapsed_ms_since.
    explicit CudaEvent(bool timing = true);
    ~CudaEvent();
    CudaEvent(const CudaEvent&) = delete;
    CudaEvent& operator=(const CudaEvent&) = delete;
    void record(CUstream_st* stream);
    // Makes `stream` wait for the work recorded before this event.
    void wait_on(CUstream_st* stream) const;
    // Milliseconds from `start` to this event (both recorded and complete).
    float elapsed_ms_since(const CudaEvent& start) const;
    void synchronize() const;
    // True once the work recorded before the event has completed (or nothing was recorded).
    bool query() const;

private:
    CUevent_st* event_ = nullptr;
};

// Page-locked host memory: the source of truly asynchronous host-to-device copies.
class PinnedBuffer {
public:
    explicit PinnedBuffer(size_t bytes);
    ~PinnedBuffer();
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    void* data() const { return data_; }
    size_t bytes() const { return bytes_; }

private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
};

// A CUDA graph: the kernels, copies and dependencies queued on a stream (and on
// the streams that joined it through events) during a capture, recorded instead
// of run.
class CudaGraph {
public:
    // Captures what `enqueue` queues on `stream`. Capture is thread-local: a
    // call that would synchronise (cudaMalloc, a blocking copy) fails the
    // capture instead of running. Streams forked from `stream` inside
    // `enqueue` must have joined it again before `enqueue` returns.
    template <class F> static CudaGraph capture(CUstream_st* stream, F&& enqueue) {
        begin_capture(stream);
        try {
            enqueue();
        } catch (...) {
            abandon_capture(stream);
            throw;
        }
        return end_capture(stream);
    }
    CudaGraph(CudaGraph&& other) noexcept : graph_(other.graph_) { other.graph_ = nullptr; }
    CudaGraph& operator=(CudaGraph&& other) noexcept;
    CudaGraph(const CudaGraph&) = delete;
    CudaGraph& operator=(const CudaGraph&) = delete;
    ~CudaGraph();
    CUgraph_st* get() const { return graph_; }
    size_t num_nodes() const;

private:
    explicit CudaGraph(CUgraph_st* graph) : graph_(graph) {}
    static void begin_capture(CUstream_st* stream);
    static CudaGraph end_capture(CUstream_st* stream);
    static void abandon_capture(CUstream_st* stream) noexcept;
    CUgraph_st* graph_ = nullptr;
};

// The executable instance of a graph: one launch replays all its work.
class CudaGraphExec {
public:
    explicit CudaGraphExec(const CudaGraph& graph);
    ~CudaGraphExec();
    CudaGraphExec(const CudaGraphExec&) = delete;
    CudaGraphExec& operator=(const CudaGraphExec&) = delete;
    void launch(CUstream_st* stream) const;

private:
    CUgraphExec_st* exec_ = nullptr;
};

// A cuBLAS handle bound to one stream, with its own workspace: cuBLAS must
// not allocate one itself while a CUDA graph is being captured.
class CublasHandle {
public:
    explicit CublasHandle(CUstream_st* stream);
    ~CublasHandle();
    CublasHandle(const CublasHandle&) = delete;
    CublasHandle& operator=(const CublasHandle&) = delete;
    cublasContext* get() const { return handle_; }

private:
    cublasContext* handle_ = nullptr;
    void* workspace_ = nullptr;
};

class CudaResources {
public:
    CudaResources() : stream(), cublas(stream.get()) {}
    CudaStream stream;
    CublasHandle cublas;
    CudaEvent join_event;  // recorded when another context waits for this one
};

}  // namespace skipper
