// Inverted dropout (CPU). Semantics: engine/lstm_ops.h. The keep mask is not
// stored: element i is kept when counter_uniform(seed, index(i)) >= p
// (kernels/cpu/random.h), so the backward pass and the CUDA twin draw the same
// mask from the seed.
#pragma once

#include <cstdint>

#include "kernels/cpu/random.h"

namespace skipper::cpu {

// The index element i is drawn on (ops::DropoutSlice): x is steps of `block`
// elements, step s at first + s * stride of the global tensor. block = stride
// = n, first = 0: the index is i. With `rows` (on x's device), a step is rows
// of `row_width` elements, and row r of a step stands at row rows[r] of the
// global step (a rank's rows need not be contiguous in the global batch).
struct DropoutIndex {
    int64_t block = 1, stride = 1, first = 0;
    const int32_t* rows = nullptr;
    int64_t row_width = 1;
#if defined(__CUDACC__)
    __host__ __device__
#endif
    uint64_t operator()(int64_t i) const {
        const int64_t within = i % block;
        const int64_t place = rows == nullptr ? within : int64_t{rows[within / row_width]} * row_width + within % row_width;
        return static_cast<uint64_t>(first + (i / block) * stride + place);
    }
};

// y = keep_i ? x / (1 - p) : 0. y may alias x.
template <class T> void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, DropoutIndex index, T* y);
// dx = keep_i ? dy / (1 - p) : 0. dx may alias dy.
template <class T> void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, DropoutIndex index, T* dx);

}  // namespace skipper::cpu
