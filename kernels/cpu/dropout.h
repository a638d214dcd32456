// Inverted dropout (CPU). Semantics: engine/lstm_ops.h. The keep mask is not
// stored: element i is kept when counter_uniform(seed, i) >= p (kernels/cpu/random.h),
// so the backward pass and the CUDA twin draw the same mask from the seed.
#pragma once

#include <cstdint>

namespace skipper::cpu {

// y = keep_i ? x / (1 - p) : 0. y may alias x.
template <class T> void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, T* y);
// dx = keep_i ? dy / (1 - p) : 0. dx may alias dy.
template <class T> void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, T* dx);

}  // namespace skipper::cpu
