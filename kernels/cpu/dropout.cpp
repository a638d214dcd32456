#include "kernels/cpu/dropout.h"

#include "kernels/cpu/random.h"

namespace skipper::cpu {

namespace {

// Forward and backward are the same map: the kept values scaled, the dropped ones zero.
template <class T> void masked_scale(const T* in, int64_t n, double p, uint64_t seed, T* out) {
    const T scale = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i)
        out[i] = counter_uniform(seed, static_cast<uint64_t>(i)) >= p ? in[i] * scale : T(0);
}

}  // namespace

template <class T> void dropout_forward(const T* x, int64_t n, double p, uint64_t seed, T* y) {
    masked_scale(x, n, p, seed, y);
}

template <class T> void dropout_backward(const T* dy, int64_t n, double p, uint64_t seed, T* dx) {
    masked_scale(dy, n, p, seed, dx);
}

template void dropout_forward<float>(const float*, int64_t, double, uint64_t, float*);
template void dropout_forward<double>(const double*, int64_t, double, uint64_t, double*);
template void dropout_backward<float>(const float*, int64_t, double, uint64_t, float*);
template void dropout_backward<double>(const double*, int64_t, double, uint64_t, double*);

}  // namespace skipper::cpu
