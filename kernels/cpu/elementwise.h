// Elementwise CPU kernels (OpenMP). In-place use (out == in) is allowed.
#pragma once

#include <cstdint>

namespace skipper::cpu {

template <class T> void sigmoid_forward(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void tanh_forward(const T* x, T* y, int64_t n);
template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void add(const T* a, const T* b, T* out, int64_t n);
template <class T> void scale(const T* x, T alpha, T* out, int64_t n);
template <class T> void fill(T* x, T value, int64_t n);

}  // namespace skipper::cpu
