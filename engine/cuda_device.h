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

namespace skipper {

void* cuda_malloc(size_t bytes);
void cuda_free(void* ptr);
void cuda_memcpy_to_device(void* dst, const void* src, size_t bytes);
void cuda_memcpy_to_host(void* dst, const void* src, size_t bytes);
void cuda_memcpy_device_to_device(void* dst, const void* src, size_t bytes);
void cuda_device_synchronize();
std::string cuda_device_name();

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
    CudaEvent();
    ~CudaEvent();
    CudaEvent(const CudaEvent&) = delete;
    CudaEvent& operator=(const CudaEvent&) = delete;
    void record(CUstream_st* stream);
    // Makes `stream` wait for the work recorded before this event.
    void wait_on(CUstream_st* stream) const;
    // Milliseconds from `start` to this event (both recorded and complete).
    float elapsed_ms_since(const CudaEvent& start) const;
    void synchronize() const;

private:
    CUevent_st* event_ = nullptr;
};

// A cuBLAS handle bound to one stream.
class CublasHandle {
public:
    explicit CublasHandle(CUstream_st* stream);
    ~CublasHandle();
    CublasHandle(const CublasHandle&) = delete;
    CublasHandle& operator=(const CublasHandle&) = delete;
    cublasContext* get() const { return handle_; }

private:
    cublasContext* handle_ = nullptr;
};

class CudaResources {
public:
    CudaResources() : stream(), cublas(stream.get()) {}
    CudaStream stream;
    CublasHandle cublas;
    CudaEvent join_event;  // recorded when another context waits for this one
};

}  // namespace skipper
