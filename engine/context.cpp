#include "engine/context.h"

#include <omp.h>

#include <cstdio>
#include <mutex>

#include "engine/cuda_device.h"
#include "engine/error.h"
#include "kernels/cpu/matmul.h"

#if SKIPPER_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace skipper {

DeviceChoice parse_device_choice(const std::string& text) {
    if (text == "auto") return DeviceChoice::automatic;
    if (text == "cpu") return DeviceChoice::cpu;
    if (text == "cuda") return DeviceChoice::cuda;
    throw ParamError("device", "expected auto, cpu or cuda, got '" + text + "'");
}

bool built_with_cuda() { return SKIPPER_HAS_CUDA != 0; }

bool cuda_available() {
    static const bool available = [] {
#if SKIPPER_HAS_CUDA
        // Without a driver (CI, developer machines) this returns
        // cudaErrorInsufficientDriver or cudaErrorNoDevice: that means "no GPU".
        int count = 0;
        const cudaError_t status = cudaGetDeviceCount(&count);
        if (status == cudaSuccess && count > 0) return true;
        std::fprintf(stderr, "skipper: built with CUDA but no usable GPU (%s); using the CPU path\n",
                     status == cudaSuccess ? "no device" : cudaGetErrorString(status));
        cudaGetLastError();  // clear the sticky status so later checks start clean
#endif
        return false;
    }();
    return available;
}

Device resolve_device(DeviceChoice choice) {
    switch (choice) {
        case DeviceChoice::cpu: return Device::cpu;
        case DeviceChoice::cuda:
            if (!cuda_available())
                throw ParamError("device", built_with_cuda() ? "cuda requested but no usable GPU was found"
                                                             : "cuda requested but this binary was built without CUDA");
            return Device::cuda;
        case DeviceChoice::automatic: return cuda_available() ? Device::cuda : Device::cpu;
    }
    return Device::cpu;
}

void set_num_threads(int num_threads) {
    const int n = num_threads > 0 ? num_threads : omp_get_num_procs();
    omp_set_num_threads(n);
    cpu::blas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

void throw_context_device_mismatch(const char* op, Device context_device, Device tensor_device) {
    throw Error(std::string(op) + ": a " + device_name(context_device) + " context was given tensors on " +
                device_name(tensor_device) + "; use a context of the tensors' device");
}

Context::Context(Device device, int num_threads) : device_(device), num_threads_(num_threads) {
    set_num_threads(num_threads);
    num_threads_ = skipper::num_threads();
    if (device == Device::cuda) {
        if (!cuda_available()) throw Error("a CUDA context was requested but no usable GPU is present");
        cuda_ = std::make_unique<CudaResources>();
    }
}

Context::~Context() = default;

void Context::set_tf32(bool enabled) { tf32_ = enabled; }

CUstream_st* Context::cuda_stream() const { return cuda_ ? cuda_->stream.get() : nullptr; }
cublasContext* Context::cublas_handle() const { return cuda_ ? cuda_->cublas.get() : nullptr; }

void Context::synchronize() const {
    if (cuda_) cuda_->stream.synchronize();
}

void Context::wait_for(const Context& other) {
    if (!cuda_ || !other.cuda_) return;
    other.cuda_->join_event.record(other.cuda_->stream.get());
    other.cuda_->join_event.wait_on(cuda_->stream.get());
}

}  // namespace skipper
