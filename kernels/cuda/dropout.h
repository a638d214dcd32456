// Inverted dropout (CUDA), twin of kernels/cpu/dropout.h: the same mask from the same seed and index.
#pragma once

#include <cstdint>

#include "kernels/cpu/dropout.h"

struct CUstream_st;

namespace skipper::cuda {

template <class T>
void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T* y, CUstream_st* stream);
template <class T>
void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, cpu::DropoutIndex index, T* dx,
                      CUstream_st* stream);

}  // namespace skipper::cuda
