#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    return static_cast<int>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

// Grid-stride loop shared by every elementwise kernel: `f(i)` handles element i.
template <class F> __global__ void elementwise_kernel(int64_t n, F f) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
        f(i);
}

template <class F> void launch(int64_t n, CUstream_st* stream, F f) {
    if (n == 0) return;
    elementwise_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, f);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T> void sigmoid_forward(const T* x, T* y, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { y[i] = T(1) / (T(1) + exp(-x[i])); });
}

template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { dx[i] = dy[i] * y[i] * (T(1) - y[i]); });
}

template <class T> void tanh_forward(const T* x, T* y, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { y[i] = tanh(x[i]); });
}

template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { dx[i] = dy[i] * (T(1) - y[i] * y[i]); });
}

template <class T> void add(const T* a, const T* b, T* out, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { out[i] = a[i] + b[i]; });
}

template <class T> void scale(const T* x, T alpha, T* out, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { out[i] = alpha * x[i]; });
}

template <class T> void fill(T* x, T value, int64_t n, CUstream_st* stream) {
    launch(n, stream, [=] __device__(int64_t i) { x[i] = value; });
}

#define SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(T)                                  \
    template void sigmoid_forward<T>(const T*, T*, int64_t, CUstream_st*);        \
    template void sigmoid_backward<T>(const T*, const T*, T*, int64_t, CUstream_st*); \
    template void tanh_forward<T>(const T*, T*, int64_t, CUstream_st*);           \
    template void tanh_backward<T>(const T*, const T*, T*, int64_t, CUstream_st*);  \
    template void add<T>(const T*, const T*, T*, int64_t, CUstream_st*);          \
    template void scale<T>(const T*, T, T*, int64_t, CUstream_st*);
SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(float)
SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE(double)
#undef SKIPPER_INSTANTIATE_FLOAT_ELEMENTWISE

template void fill<float>(float*, float, int64_t, CUstream_st*);
template void fill<double>(double*, double, int64_t, CUstream_st*);
template void fill<int32_t>(int32_t*, int32_t, int64_t, CUstream_st*);
template void fill<uint8_t>(uint8_t*, uint8_t, int64_t, CUstream_st*);

}  // namespace skipper::cuda
