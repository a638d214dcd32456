// Adam update (CUDA), twin of kernels/cpu/adam.h.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, double learning_rate, double beta1, double beta2,
               double epsilon, double weight_decay, int64_t step, CUstream_st* stream);

}  // namespace skipper::cuda
