#include "kernels/cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/reduce.h"

namespace skipper::cpu {

namespace {

// Sums of w * (softplus(z) - y z) and of w, per fixed-size block and then in
// block order, so that the loss is the same for any thread count.
template <class T> void weighted_loss_sums(const T* logits, const T* targets, const T* weights, int64_t n,
                                           double& loss_sum, double& weight_sum) {
    const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> loss_part(static_cast<size_t>(blocks)), weight_part(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t end = std::min(n, (b + 1) * kSumBlock);
        double loss = 0.0, weight = 0.0;
        for (int64_t i = b * kSumBlock; i < end; ++i) {
            const double w = weights[i];
            if (w == 0.0) continue;
            const double z = logits[i];
            // softplus(z) = max(z, 0) + log1p(exp(-|z|)), stable for any z.
            const double softplus = std::fmax(z, 0.0) + std::log1p(std::exp(-std::fabs(z)));
            loss += w * (softplus - static_cast<double>(targets[i]) * z);
            weight += w;
        }
        loss_part[static_cast<size_t>(b)] = loss;
        weight_part[static_cast<size_t>(b)] = weight;
    }
    loss_sum = 0.0;
    weight_sum = 0.0;
    for (int64_t b = 0; b < blocks; ++b) {
        loss_sum += loss_part[static_cast<size_t>(b)];
        weight_sum += weight_part[static_cast<size_t>(b)];
    }
}

}  // namespace

template <class T> double bce_with_logits_forward(const T* logits, const T* targets, const T* weights, int64_t n) {
    double loss_sum = 0.0, weight_sum = 0.0;
    weighted_loss_sums(logits, targets, weights, n, loss_sum, weight_sum);
    return weight_sum == 0.0 ? 0.0 : loss_sum / weight_sum;
}

template <class T>
void bce_with_logits_backward(const T* logits, const T* targets, const T* weights, int64_t n, T* dlogits) {
    const double weight_sum = sum(weights, n);
    const T inverse = weight_sum == 0.0 ? T(0) : static_cast<T>(1.0 / weight_sum);
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
        const T z = logits[i];
        // sigmoid(z) without overflow for either sign.
        const T e = std::exp(-std::fabs(z));
        const T p = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
        dlogits[i] = weights[i] * (p - targets[i]) * inverse;
    }
}

template double bce_with_logits_forward<float>(const float*, const float*, const float*, int64_t);
template double bce_with_logits_forward<double>(const double*, const double*, const double*, int64_t);
template void bce_with_logits_backward<float>(const float*, const float*, const float*, int64_t, float*);
template void bce_with_logits_backward<double>(const double*, const double*, const double*, int64_t, double*);

}  // namespace skipper::cpu
