#include "kernels/cuda/lstm_cell.h"

#include "kernels/cuda/check.h"
#include "kernels/cuda/lstm_cell_math.h"

namespace skipper::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// One thread per (row b, hidden unit j), flat index b * H + j. Adjacent threads
// take adjacent units, so each of the four gate reads, gates[b, k*H + j], and
// every [B, H] access is coalesced across the warp.
template <class T>
__global__ void lstm_cell_forward_kernel(T* gates, const T* bias, const T* c_prev, const T* h_prev, const T* mask,
                                         T* c, T* h, int64_t batch, int64_t hidden) {
    const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (idx >= batch * hidden) return;
    const int64_t b = idx / hidden, j = idx - b * hidden;
    T* row = gates + b * 4 * hidden;
    const auto out = lstm_math::cell_forward<T>(row[j] + bias[j], row[hidden + j] + bias[hidden + j],
                                                row[2 * hidden + j] + bias[2 * hidden + j],
                                                row[3 * hidden + j] + bias[3 * hidden + j], c_prev[idx], h_prev[idx],
                                                mask[b] != T(0));
    row[j] = out.i;
    row[hidden + j] = out.f;
    row[2 * hidden + j] = out.g;
    row[3 * hidden + j] = out.o;
    c[idx] = out.c;
    h[idx] = out.h;
}

// Reads every input element before writing its outputs, so dc_prev may alias
// dc and dh_prev may alias dh (each thread owns one element of each).
template <class T>
__global__ void lstm_cell_backward_kernel(const T* gates, const T* c_prev, const T* c, const T* mask, const T* dh,
                                          const T* dc, T* dgates, T* dc_prev, T* dh_prev, int64_t batch,
                                          int64_t hidden) {
    const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (idx >= batch * hidden) return;
    const int64_t b = idx / hidden, j = idx - b * hidden;
    const T* row = gates + b * 4 * hidden;
    const auto out = lstm_math::cell_backward<T>(row[j], row[hidden + j], row[2 * hidden + j], row[3 * hidden + j],
                                                 c_prev[idx], c[idx], dh[idx], dc[idx], mask[b] != T(0));
    T* drow = dgates + b * 4 * hidden;
    drow[j] = out.di;
    drow[hidden + j] = out.df;
    drow[2 * hidden + j] = out.dg;
    drow[3 * hidden + j] = out.d_o;
    dc_prev[idx] = out.dc_prev;
    dh_prev[idx] = out.dh_prev;
}

template <class T> __global__ void add_bias_kernel(T* x, const T* bias, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n; idx += int64_t(blockDim.x) * gridDim.x)
        x[idx] += bias[idx % cols];
}

}  // namespace

template <class T>
void lstm_cell_forward(T* gates, const T* bias, const T* c_prev, const T* h_prev, const T* mask, T* c, T* h,
                       int64_t batch, int64_t hidden, CUstream_st* stream) {
    if (batch * hidden == 0) return;
    lstm_cell_forward_kernel<T>
        <<<blocks_for(batch * hidden), kThreads, 0, stream>>>(gates, bias, c_prev, h_prev, mask, c, h, batch, hidden);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

template <class T>
void lstm_cell_backward(const T* gates, const T* c_prev, const T* c, const T* mask, const T* dh, const T* dc,
                        T* dgates, T* dc_prev, T* dh_prev, int64_t batch, int64_t hidden, CUstream_st* stream) {
    if (batch * hidden == 0) return;
    lstm_cell_backward_kernel<T><<<blocks_for(batch * hidden), kThreads, 0, stream>>>(
        gates, c_prev, c, mask, dh, dc, dgates, dc_prev, dh_prev, batch, hidden);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

template <class T> void add_bias(T* x, const T* bias, int64_t rows, int64_t cols, CUstream_st* stream) {
    const int64_t n = rows * cols;
    if (n == 0) return;
    // Grid-stride with a capped grid: x may be all T steps' projections at once.
    const unsigned blocks = blocks_for(n) < 65535u * 8 ? blocks_for(n) : 65535u * 8;
    add_bias_kernel<T><<<blocks, kThreads, 0, stream>>>(x, bias, rows, cols);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

#define SKIPPER_INSTANTIATE_LSTM_CELL(T)                                                                           \
    template void lstm_cell_forward<T>(T*, const T*, const T*, const T*, const T*, T*, T*, int64_t, int64_t,      \
                                       CUstream_st*);                                                             \
    template void lstm_cell_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*,   \
                                        int64_t, int64_t, CUstream_st*);                                          \
    template void add_bias<T>(T*, const T*, int64_t, int64_t, CUstream_st*);
SKIPPER_INSTANTIATE_LSTM_CELL(float)
SKIPPER_INSTANTIATE_LSTM_CELL(double)
#undef SKIPPER_INSTANTIATE_LSTM_CELL

}  // namespace skipper::cuda
