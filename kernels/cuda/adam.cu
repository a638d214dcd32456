#include "kernels/cuda/adam.h"

#include <math.h>

#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

constexpr int kThreads = 256;

// The per-step constants, computed once on the host in double.
struct AdamConstants {
    double step_size;            // learning_rate / (1 - beta1^step)
    double inverse_sqrt_bias2;   // 1 / sqrt(1 - beta2^step)
    // 1 - beta is rounded from double, not computed in T: in f32, 1 - 0.9f is
    // 0.100000024, not 0.1.
    double beta1, one_minus_beta1, beta2, one_minus_beta2, epsilon, weight_decay;
};

// torch.optim.Adam's update (L2 weight decay added to the gradient):
//   g = grad + wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
template <class T> __global__ void adam_kernel(T* param, const T* grad, T* m, T* v, int64_t n, AdamConstants k) {
    const T beta1 = T(k.beta1), one_minus_beta1 = T(k.one_minus_beta1);
    const T beta2 = T(k.beta2), one_minus_beta2 = T(k.one_minus_beta2);
    const T epsilon = T(k.epsilon), weight_decay = T(k.weight_decay);
    const T step_size = T(k.step_size), inverse_sqrt_bias2 = T(k.inverse_sqrt_bias2);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
        const T p = param[i];
        const T g = grad[i] + weight_decay * p;
        const T m_new = beta1 * m[i] + one_minus_beta1 * g;
        const T v_new = beta2 * v[i] + one_minus_beta2 * g * g;
        m[i] = m_new;
        v[i] = v_new;
        param[i] = p - step_size * m_new / (sqrt(v_new) * inverse_sqrt_bias2 + epsilon);
    }
}

}  // namespace

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, double learning_rate, double beta1, double beta2,
               double epsilon, double weight_decay, int64_t step, CUstream_st* stream) {
    if (n == 0) return;
    const double t = static_cast<double>(step);
    const AdamConstants constants{learning_rate / (1.0 - pow(beta1, t)), 1.0 / sqrt(1.0 - pow(beta2, t)), beta1,
                                  1.0 - beta1, beta2, 1.0 - beta2, epsilon, weight_decay};
    const int64_t wanted = (n + kThreads - 1) / kThreads;
    const unsigned blocks = static_cast<unsigned>(wanted < 65535 * 8 ? wanted : 65535 * 8);
    adam_kernel<T><<<blocks, kThreads, 0, stream>>>(param, grad, m, v, n, constants);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

template void adam_step<float>(float*, const float*, float*, float*, int64_t, double, double, double, double, double,
                               int64_t, CUstream_st*);
template void adam_step<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                double, int64_t, CUstream_st*);

}  // namespace skipper::cuda
