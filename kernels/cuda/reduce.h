// Sum reductions on CUDA, twins of kernels/cpu/reduce.h. Partial sums are taken
// in double over the same fixed blocks, then combined in block order.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

// Synchronises `stream` to return the value.
template <class T> double sum(const T* x, int64_t n, CUstream_st* stream);
template <class T> void sum_rows(const T* x, int64_t rows, int64_t cols, T* out, CUstream_st* stream);

}  // namespace skipper::cuda
