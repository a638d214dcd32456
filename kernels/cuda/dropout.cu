#include "kernels/cuda/dropout.h"

#include "kernels/cpu/random.h"
#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

// The keep test compares the same 53-bit uniform as the CPU's, so both devices drop the same elements.
template <class T>
__global__ void masked_scale_kernel(const T* in, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T scale,
                                    T* out) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
        out[i] = counter_uniform(seed, index(i)) >= p ? in[i] * scale : T(0);
}

template <class T>
void masked_scale(const T* in, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T* out, CUstream_st* stream) {
    if (n == 0) return;
    const int64_t blocks = (n + 255) / 256;
    masked_scale_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(
        in, n, p, seed, index, static_cast<T>(1.0 / (1.0 - p)), out);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T* y, CUstream_st* stream) {
    masked_scale(x, n, p, seed, index, y, stream);
}

template <class T>
void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T* dx,
                      CUstream_st* stream) {
    masked_scale(dy, n, p, seed, index, dx, stream);
}

template void dropout_forward<float>(const float*, int64_t, double, uint64_t, cpu::DropoutIndex, float*, CUstream_st*);
template void dropout_forward<double>(const double*, int64_t, double, uint64_t, cpu::DropoutIndex, double*, CUstream_st*);
template void dropout_backward<float>(const float*, int64_t, double, uint64_t, cpu::DropoutIndex, float*, CUstream_st*);
template void dropout_backward<double>(const double*, int64_t, double, uint64_t, cpu::DropoutIndex, double*,
                                       CUstream_st*);

}  // namespace skipper::cuda
