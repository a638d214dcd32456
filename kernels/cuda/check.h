// Checks every CUDA runtime and cuBLAS status; a failure throws CudaError naming
// the call site. Only included by .cu files and CUDA-aware .cpp files.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "engine/error.h"

namespace skipper::cuda_detail {

[[noreturn]] void throw_cuda_error(const char* what, const char* call, const char* file, int line);

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) throw_cuda_error(cudaGetErrorString(status), call, file, line);
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) throw_cuda_error(cublasGetStatusString(status), call, file, line);
}

}  // namespace skipper::cuda_detail

#define SKIPPER_CUDA_CHECK(call) ::skipper::cuda_detail::check_cuda((call), #call, __FILE__, __LINE__)
#define SKIPPER_CUBLAS_CHECK(call) ::skipper::cuda_detail::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at their site.
#define SKIPPER_CUDA_CHECK_LAUNCH() SKIPPER_CUDA_CHECK(cudaGetLastError())
