#include "kernels/cpu/adam.h"

#include <cmath>

namespace skipper::cpu {

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, double learning_rate, double beta1, double beta2,
               double epsilon, double weight_decay, int64_t step) {
    // torch.optim.Adam's arithmetic: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),
    // with weight decay as an L2 term added to the gradient.
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    const T step_size = static_cast<T>(learning_rate / bias_correction1);
    const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bias_correction2));
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
    const T eps = static_cast<T>(epsilon), decay = static_cast<T>(weight_decay);
#pragma omp parallel for simd schedule(static) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
        const T g = grad[i] + decay * param[i];
        const T mi = b1 * m[i] + one_minus_b1 * g;
        const T vi = b2 * v[i] + one_minus_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
}

template void adam_step<float>(float*, const float*, float*, float*, int64_t, double, double, double, double, double,
                               int64_t);
template void adam_step<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                double, int64_t);

}  // namespace skipper::cpu
