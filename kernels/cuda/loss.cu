#include "kernels/cuda/loss.h"

#include <math.h>

#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

constexpr int kThreads = 256;
// The backward kernel's grid is capped so that the per-block re-summation of
// the weight partials (a few per 4096 logits) stays a small fraction of the work.
constexpr int64_t kMaxBackwardBlocks = 1024;

// w * (softplus(z) - y z), with softplus(z) = max(z, 0) + log1p(e^-|z|), which
// neither overflows nor loses the small tail for large |z|.
template <class T> __device__ double weighted_bce(T z, T y, T w) {
    const double zd = static_cast<double>(z);
    const double softplus = fmax(zd, 0.0) + log1p(exp(-fabs(zd)));
    return static_cast<double>(w) * (softplus - static_cast<double>(y) * zd);
}

// Deterministic partial sums: block k sums elements [k * kSumBlock, (k+1) *
// kSumBlock) in double, each thread striding in a fixed order, then a fixed
// tree. The partials are combined in block order by the caller, so the result
// does not depend on scheduling. Writes (loss, weight) pairs, or only weight
// sums when `loss_partial` is null.
template <class T>
__global__ void bce_partials_kernel(const T* logits, const T* targets, const T* weights, int64_t n,
                                    double* loss_partial, double* weight_partial) {
    __shared__ double shared_loss[kThreads];
    __shared__ double shared_weight[kThreads];
    const int64_t begin = blockIdx.x * cpu::kSumBlock;
    const int64_t end = begin + cpu::kSumBlock < n ? begin + cpu::kSumBlock : n;
    double loss = 0.0, weight = 0.0;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
        const T w = weights[i];
        weight += static_cast<double>(w);
        // A zero weight excludes the position even when its logit is garbage (inf or NaN on padding).
        if (loss_partial != nullptr && w != T(0)) loss += weighted_bce(logits[i], targets[i], w);
    }
    shared_loss[threadIdx.x] = loss;
    shared_weight[threadIdx.x] = weight;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
        if (threadIdx.x < width) {
            shared_loss[threadIdx.x] += shared_loss[threadIdx.x + width];
            shared_weight[threadIdx.x] += shared_weight[threadIdx.x + width];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        if (loss_partial != nullptr) loss_partial[blockIdx.x] = shared_loss[0];
        weight_partial[blockIdx.x] = shared_weight[0];
    }
}

// dlogits = w * (sigmoid(z) - y) / sum(w). Every block first adds the weight
// partials in block order itself, which keeps the sum on the device (no host
// synchronisation) without a third launch.
template <class T>
__global__ void bce_backward_kernel(const T* logits, const T* targets, const T* weights, int64_t n,
                                    const double* weight_partial, int64_t num_partials, T* dlogits) {
    __shared__ double inverse_total;
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int64_t k = 0; k < num_partials; ++k) total += weight_partial[k];
        inverse_total = total != 0.0 ? 1.0 / total : 0.0;
    }
    __syncthreads();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
        const T w = weights[i];
        if (w == T(0)) {
            dlogits[i] = T(0);
            continue;
        }
        const double z = static_cast<double>(logits[i]);
        const double sigmoid = 1.0 / (1.0 + exp(-z));
        dlogits[i] = static_cast<T>(static_cast<double>(w) * (sigmoid - static_cast<double>(targets[i])) * inverse_total);
    }
}

int64_t num_partials_for(int64_t n) { return (n + cpu::kSumBlock - 1) / cpu::kSumBlock; }

}  // namespace

template <class T>
double bce_with_logits_forward(const T* logits, const T* targets, const T* weights, int64_t n, CUstream_st* stream) {
    if (n == 0) return 0.0;
    const int64_t blocks = num_partials_for(n);
    // Scratch from the stream-ordered pool: no device-wide synchronisation.
    double* partials = nullptr;
    SKIPPER_CUDA_CHECK(cudaMallocAsync(&partials, sizeof(double) * 2 * blocks, stream));
    bce_partials_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(logits, targets, weights, n,
                                                                                   partials, partials + blocks);
    SKIPPER_CUDA_CHECK_LAUNCH();
    std::vector<double> host(static_cast<size_t>(2 * blocks));
    SKIPPER_CUDA_CHECK(
        cudaMemcpyAsync(host.data(), partials, sizeof(double) * 2 * blocks, cudaMemcpyDeviceToHost, stream));
    SKIPPER_CUDA_CHECK(cudaFreeAsync(partials, stream));
    SKIPPER_CUDA_CHECK(cudaStreamSynchronize(stream));
    double loss = 0.0, weight = 0.0;
    for (int64_t k = 0; k < blocks; ++k) {
        loss += host[static_cast<size_t>(k)];
        weight += host[static_cast<size_t>(blocks + k)];
    }
    return weight != 0.0 ? loss / weight : 0.0;
}

template <class T>
void bce_with_logits_backward(const T* logits, const T* targets, const T* weights, int64_t n, T* dlogits,
                              CUstream_st* stream) {
    if (n == 0) return;
    const int64_t partials = num_partials_for(n);
    double* weight_partial = nullptr;
    SKIPPER_CUDA_CHECK(cudaMallocAsync(&weight_partial, sizeof(double) * partials, stream));
    bce_partials_kernel<T><<<static_cast<unsigned>(partials), kThreads, 0, stream>>>(logits, targets, weights, n,
                                                                                     nullptr, weight_partial);
    SKIPPER_CUDA_CHECK_LAUNCH();
    const int64_t wanted = (n + kThreads - 1) / kThreads;
    const int64_t blocks = wanted < kMaxBackwardBlocks ? wanted : kMaxBackwardBlocks;
    bce_backward_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(logits, targets, weights, n,
                                                                                   weight_partial, partials, dlogits);
    SKIPPER_CUDA_CHECK_LAUNCH();
    SKIPPER_CUDA_CHECK(cudaFreeAsync(weight_partial, stream));
}

template double bce_with_logits_forward<float>(const float*, const float*, const float*, int64_t, CUstream_st*);
template double bce_with_logits_forward<double>(const double*, const double*, const double*, int64_t, CUstream_st*);
template void bce_with_logits_backward<float>(const float*, const float*, const float*, int64_t, float*,
                                              CUstream_st*);
template void bce_with_logits_backward<double>(const double*, const double*, const double*, int64_t, double*,
                                               CUstream_st*);

}  // namespace skipper::cuda
