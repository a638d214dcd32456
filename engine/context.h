// The backend context: the device a computation runs on, the CPU thread count,
// and on CUDA the stream and cuBLAS handle every op of this context uses.
#pragma once

#include <memory>
#include <string>

#include "engine/tensor.h"

struct CUstream_st;
struct cublasContext;

namespace skipper {

enum class DeviceChoice { automatic, cpu, cuda };
DeviceChoice parse_device_choice(const std::string& text);  // "auto" | "cpu" | "cuda"

// True when this binary was built with CUDA and a usable GPU and driver are present.
// The first call that finds none prints one line saying the CPU path is taken.
bool cuda_available();
bool built_with_cuda();

// automatic -> cuda if available, else cpu; cuda without a GPU is an error.
Device resolve_device(DeviceChoice choice);

// Sets the OpenMP and OpenBLAS thread counts together so that they never
// oversubscribe the cores. 0 means every core.
void set_num_threads(int num_threads);
int num_threads();

[[noreturn]] void throw_context_device_mismatch(const char* op, Device context_device, Device tensor_device);

class CudaResources;  // stream + cuBLAS handle, defined where CUDA is built

class Context {
public:
    explicit Context(Device device = Device::cpu, int num_threads = 0);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    Device device() const { return device_; }
    int num_threads() const { return num_threads_; }

    // Allows TF32 tensor-core matrix products for f32 on CUDA. Off by default.
    void set_tf32(bool enabled);
    bool tf32() const { return tf32_; }

    CUstream_st* cuda_stream() const;
    cublasContext* cublas_handle() const;
    // Waits for all work queued on this context's stream.
    void synchronize() const;
    // Orders this context's later work after the work queued so far on
    // `other` (an event between CUDA streams; the host does not wait). On the
    // CPU, work is already ordered and this does nothing.
    void wait_for(const Context& other);

private:
    Device device_;
    int num_threads_;
    bool tf32_ = false;
    std::unique_ptr<CudaResources> cuda_;
};

// Every op calls this first: the context must be on the device of the tensors.
// A CPU context has no CUDA stream or cuBLAS handle (a CUDA kernel would run on
// the legacy default stream and cuBLAS would get a null handle), and a CUDA
// context's stream would not order a CPU kernel. The error names the op.
inline void require_context_device(const char* op, Device context_device, Device tensor_device) {
    if (context_device != tensor_device) throw_context_device_mismatch(op, context_device, tensor_device);
}
inline void require_context_device(const char* op, const Context& ctx, const Tensor& t) {
    require_context_device(op, ctx.device(), t.device());
}

}  // namespace skipper
