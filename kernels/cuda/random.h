// Counter-based uniform fill on CUDA; bit-identical to skipper::cpu::fill_uniform.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

template <class T>
void fill_uniform(T* x, int64_t n, double lo, double hi, uint64_t seed, CUstream_st* stream);

}  // namespace skipper::cuda
