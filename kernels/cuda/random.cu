#include "kernels/cuda/random.h"

#include "kernels/cpu/random.h"
#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

// Explicit round-to-nearest multiply and add: no fused multiply-add, so the
// value matches the CPU's (built with -ffp-contract=off) bit for bit.
template <class T> __global__ void fill_uniform_kernel(T* x, int64_t n, double lo, double hi, uint64_t seed) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
        const double u = counter_uniform(seed, static_cast<uint64_t>(i));
        x[i] = static_cast<T>(__dadd_rn(lo, __dmul_rn(__dsub_rn(hi, lo), u)));
    }
}

}  // namespace

template <class T> void fill_uniform(T* x, int64_t n, double lo, double hi, uint64_t seed, CUstream_st* stream) {
    if (n == 0) return;
    const int64_t blocks = (n + 255) / 256;
    fill_uniform_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(x, n, lo, hi, seed);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

template void fill_uniform<float>(float*, int64_t, double, double, uint64_t, CUstream_st*);
template void fill_uniform<double>(double*, int64_t, double, double, uint64_t, CUstream_st*);

}  // namespace skipper::cuda
