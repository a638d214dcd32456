// Inverted dropout (CUDA), twin of kernels/cpu/dropout.h: the same mask from the same seed.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

template <class T> void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, T* y, CUstream_st* stream);
template <class T> void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, T* dx, CUstream_st* stream);

}  // namespace skipper::cuda
