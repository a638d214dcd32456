#include "kernels/cpu/random.h"

namespace skipper::cpu {

// Built with -ffp-contract=off so that lo + (hi - lo) * u rounds exactly as the
// CUDA kernel's explicit round-to-nearest operations do.
template <class T> void fill_uniform(T* x, int64_t n, double lo, double hi, uint64_t seed) {
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        const double u = counter_uniform(seed, static_cast<uint64_t>(i));
        x[i] = static_cast<T>(lo + (hi - lo) * u);
    }
}

template void fill_uniform<float>(float*, int64_t, double, double, uint64_t);
template void fill_uniform<double>(double*, int64_t, double, double, uint64_t);

}  // namespace skipper::cpu
