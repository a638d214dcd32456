// Weighted binary cross-entropy on logits (CUDA), twin of kernels/cpu/loss.h.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

// Synchronises `stream` to return the value.
template <class T>
double bce_with_logits_forward(const T* logits, const T* targets, const T* weights, int64_t n, CUstream_st* stream);
template <class T>
void bce_with_logits_backward(const T* logits, const T* targets, const T* weights, int64_t n, T* dlogits,
                              CUstream_st* stream);

}  // namespace skipper::cuda
