#include "kernels/cuda/reduce.h"

#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/sum_rows_plan.h"

namespace skipper::cuda {

namespace {

constexpr int kThreads = 256;

// One thread block per kSumBlock elements; a fixed tree order inside the block.
template <class T> __global__ void block_sum_kernel(const T* x, int64_t n, double* partial) {
    __shared__ double shared[kThreads];
    const int64_t begin = blockIdx.x * cpu::kSumBlock;
    const int64_t end = begin + cpu::kSumBlock < n ? begin + cpu::kSumBlock : n;
    double acc = 0.0;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) acc += static_cast<double>(x[i]);
    shared[threadIdx.x] = acc;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
        if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

// Pass 1 of sum_rows (kernels/cuda/sum_rows_plan.h): block (x, y) sums
// kColumnsPerBlock columns over chunk y; threadIdx.x is the column, threadIdx.y
// the lane.
template <class T> __global__ void sum_rows_partial_kernel(const T* x, int64_t rows, int64_t cols, double* partial) {
    namespace plan = sum_rows_plan;
    __shared__ double lane_sums[plan::kColumnsPerBlock][plan::kLanes];
    const int64_t j = blockIdx.x * int64_t(plan::kColumnsPerBlock) + threadIdx.x;
    const int64_t chunk = blockIdx.y;
    lane_sums[threadIdx.x][threadIdx.y] = j < cols ? plan::lane_sum(x, rows, cols, chunk, threadIdx.y, j) : 0.0;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols) partial[chunk * cols + j] = plan::combine_lanes(lane_sums[threadIdx.x]);
}

// Pass 2: one thread per column adds its chunks' partials in chunk order.
template <class T> __global__ void sum_rows_combine_kernel(const double* partial, int64_t chunks, int64_t cols, T* out) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j < cols) out[j] = static_cast<T>(sum_rows_plan::combine_chunks(partial, chunks, cols, j));
}

}  // namespace

template <class T> double sum(const T* x, int64_t n, CUstream_st* stream) {
    if (n == 0) return 0.0;
    const int64_t blocks = (n + cpu::kSumBlock - 1) / cpu::kSumBlock;
    double* partial = nullptr;
    SKIPPER_CUDA_CHECK(cudaMallocAsync(&partial, sizeof(double) * blocks, stream));
    block_sum_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, n, partial);
    SKIPPER_CUDA_CHECK_LAUNCH();
    std::vector<double> host(static_cast<size_t>(blocks));
    SKIPPER_CUDA_CHECK(cudaMemcpyAsync(host.data(), partial, sizeof(double) * blocks, cudaMemcpyDeviceToHost, stream));
    SKIPPER_CUDA_CHECK(cudaFreeAsync(partial, stream));
    SKIPPER_CUDA_CHECK(cudaStreamSynchronize(stream));
    double total = 0.0;
    for (double p : host) total += p;
    return total;
}

template <class T> void sum_rows(const T* x, int64_t rows, int64_t cols, T* out, CUstream_st* stream) {
    namespace plan = sum_rows_plan;
    if (cols == 0) return;
    if (rows == 0) {
        SKIPPER_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(T) * static_cast<size_t>(cols), stream));
        return;
    }
    const int64_t chunks = plan::num_chunks(rows);
    // Scratch from the stream-ordered pool: no synchronisation, and legal
    // inside a CUDA graph capture.
    double* partial = nullptr;
    SKIPPER_CUDA_CHECK(cudaMallocAsync(&partial, sizeof(double) * static_cast<size_t>(chunks * cols), stream));
    const dim3 grid(static_cast<unsigned>((cols + plan::kColumnsPerBlock - 1) / plan::kColumnsPerBlock),
                    static_cast<unsigned>(chunks));
    const dim3 block(plan::kColumnsPerBlock, plan::kLanes);
    sum_rows_partial_kernel<T><<<grid, block, 0, stream>>>(x, rows, cols, partial);
    SKIPPER_CUDA_CHECK_LAUNCH();
    sum_rows_combine_kernel<T>
        <<<static_cast<unsigned>((cols + kThreads - 1) / kThreads), kThreads, 0, stream>>>(partial, chunks, cols, out);
    SKIPPER_CUDA_CHECK_LAUNCH();
    SKIPPER_CUDA_CHECK(cudaFreeAsync(partial, stream));
}

template double sum<float>(const float*, int64_t, CUstream_st*);
template double sum<double>(const double*, int64_t, CUstream_st*);
template double sum<int32_t>(const int32_t*, int64_t, CUstream_st*);
template double sum<uint8_t>(const uint8_t*, int64_t, CUstream_st*);
template void sum_rows<float>(const float*, int64_t, int64_t, float*, CUstream_st*);
template void sum_rows<double>(const double*, int64_t, int64_t, double*, CUstream_st*);

}  // namespace skipper::cuda
