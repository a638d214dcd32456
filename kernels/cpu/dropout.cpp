#include "kernels/cpu/dropout.h"

namespace skipper::cpu {

namespace {

// Forward and backward are the same map: the kept values scaled, the dropped ones zero.
template <class T> void masked_scale(const T* in, int64_t n, double p, uint64_t seed, DropoutIndex index, T* out) {
    const T scale = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) out[i] = counter_uniform(seed, index(i)) >= p ? in[i] * scale : T(0);
}

}  // namespace

template <class T> void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, DropoutIndex index, T* y) {
    masked_scale(x, n, p, seed, index, y);
}

template <class T> void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, DropoutIndex index, T* dx) {
    masked_scale(dy, n, p, seed, index, dx);
}

template void dropout_forward<float>(const float*, int64_t, double, uint64_t, DropoutIndex, float*);
template void dropout_forward<double>(const double*, int64_t, double, uint64_t, DropoutIndex, double*);
template void dropout_backward<float>(const float*, int64_t, double, uint64_t, DropoutIndex, float*);
template void dropout_backward<double>(const double*, int64_t, double, uint64_t, DropoutIndex, double*);

}  // namespace skipper::cpu
