// LSTM cell kernels on the CPU (OpenMP). Semantics: engine/lstm_ops.h.
#pragma once

#include <cstdint>

namespace skipper::cpu {

template <class T>
void lstm_cell_forward(T* gates, const T* bias, const T* c_prev, const T* h_prev, const T* mask, T* c, T* h,
                       int64_t batch, int64_t hidden);

template <class T>
void lstm_cell_backward(const T* gates, const T* c_prev, const T* c, const T* mask, const T* dh, const T* dc,
                        T* dgates, T* dc_prev, T* dh_prev, int64_t batch, int64_t hidden);

// x[r, j] += bias[j]
template <class T> void add_bias(T* x, const T* bias, int64_t rows, int64_t cols);

}  // namespace skipper::cpu
