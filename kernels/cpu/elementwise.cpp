#include "kernels/cpu/elementwise.h"

#include <cmath>

namespace skipper::cpu {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
}  // namespace

template <class T> void sigmoid_forward(const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) y[i] = T(1) / (T(1) + std::exp(-x[i]));
}

template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

template <class T> void tanh_forward(const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}

template <class T> void add(const T* a, const T* b, T* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T> void scale(const T* x, T alpha, T* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) out[i] = alpha * x[i];
}

template <class T> void fill(T* x, T value, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) x[i] = value;
}

#define SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(T)                      \
    template void sigmoid_forward<T>(const T*, T*, int64_t);          \
    template void sigmoid_backward<T>(const T*, const T*, T*, int64_t); \
    template void tanh_forward<T>(const T*, T*, int64_t);             \
    template void tanh_backward<T>(const T*, const T*, T*, int64_t);  \
    template void add<T>(const T*, const T*, T*, int64_t);            \
    template void scale<T>(const T*, T, T*, int64_t);
SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(float)
SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(double)
#undef SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE

template void fill<float>(float*, float, int64_t);
template void fill<double>(double*, double, int64_t);
template void fill<int32_t>(int32_t*, int32_t, int64_t);
template void fill<uint8_t>(uint8_t*, uint8_t, int64_t);

}  // namespace skipper::cpu
