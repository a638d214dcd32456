#include "kernels/cuda/embedding.h"

#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/check.h"

namespace skipper::cuda {

namespace {

unsigned grid_for(int64_t work) {
    const int64_t blocks = (work + 255) / 256;
    return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

template <class T>
__global__ void gather_kernel(const T* table, int64_t dim, const int32_t* index, int64_t n, T* out) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * dim; i += int64_t(blockDim.x) * gridDim.x) {
        const int64_t m = i / dim, j = i % dim;
        out[i] = index[m] < 0 ? T(0) : table[int64_t{index[m]} * dim + j];
    }
}

__global__ void positions_kernel(int64_t n, int32_t* positions) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x)
        positions[i] = static_cast<int32_t>(i);
}

// Thread (k, j) starts at sorted entry k if it opens a segment (its key
// differs from the entry before) and sums column j over the segment, in the
// order of the positions. Keys are the indices as unsigned, so -1 (padding)
// sorts last and is skipped.
template <class T>
__global__ void segment_sum_kernel(const T* d_out, int64_t dim, const uint32_t* keys, const int32_t* positions,
                                   int64_t n, T* d_table) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * dim; i += int64_t(blockDim.x) * gridDim.x) {
        const int64_t k = i / dim, j = i % dim;
        const uint32_t key = keys[k];
        if (static_cast<int32_t>(key) < 0 || (k > 0 && keys[k - 1] == key)) continue;
        T sum = T(0);
        for (int64_t e = k; e < n && keys[e] == key; ++e) sum += d_out[int64_t{positions[e]} * dim + j];
        d_table[int64_t{key} * dim + j] = sum;
    }
}

size_t align_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Workspace layout: sorted keys, positions in, positions sorted, then CUB's temporary storage.
size_t cub_bytes(int64_t n) {
    size_t bytes = 0;
    SKIPPER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const uint32_t*>(nullptr),
                                                       static_cast<uint32_t*>(nullptr),
                                                       static_cast<const int32_t*>(nullptr),
                                                       static_cast<int32_t*>(nullptr), static_cast<int>(n)));
    return bytes;
}

}  // namespace

template <class T>
void embedding_forward(const T* table, int64_t dim, const int32_t* index, int64_t n, T* out, CUstream_st* stream) {
    if (n * dim == 0) return;
    gather_kernel<<<grid_for(n * dim), 256, 0, stream>>>(table, dim, index, n, out);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

size_t embedding_backward_workspace_bytes(int64_t n) {
    const size_t entries = align_up(static_cast<size_t>(n) * sizeof(int32_t));
    return 3 * entries + align_up(cub_bytes(n));
}

template <class T>
void embedding_backward(const T* d_out, int64_t dim, const int32_t* index, int64_t n, int64_t rows, T* d_table,
                        void* workspace, size_t workspace_bytes, CUstream_st* stream) {
    SKIPPER_CUDA_CHECK(cudaMemsetAsync(d_table, 0, static_cast<size_t>(rows * dim) * sizeof(T), stream));
    if (n * dim == 0) return;
    const size_t entries = align_up(static_cast<size_t>(n) * sizeof(int32_t));
    auto* base = static_cast<char*>(workspace);
    auto* keys = reinterpret_cast<uint32_t*>(base);
    auto* positions_in = reinterpret_cast<int32_t*>(base + entries);
    auto* positions = reinterpret_cast<int32_t*>(base + 2 * entries);
    void* temp = base + 3 * entries;
    size_t temp_bytes = workspace_bytes - 3 * entries;
    positions_kernel<<<grid_for(n), 256, 0, stream>>>(n, positions_in);
    SKIPPER_CUDA_CHECK_LAUNCH();
    SKIPPER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, reinterpret_cast<const uint32_t*>(index),
                                                       keys, positions_in, positions, static_cast<int>(n), 0,
                                                       32, stream));
    segment_sum_kernel<<<grid_for(n * dim), 256, 0, stream>>>(d_out, dim, keys, positions, n, d_table);
    SKIPPER_CUDA_CHECK_LAUNCH();
}

template void embedding_forward<float>(const float*, int64_t, const int32_t*, int64_t, float*, CUstream_st*);
template void embedding_forward<double>(const double*, int64_t, const int32_t*, int64_t, double*, CUstream_st*);
template void embedding_backward<float>(const float*, int64_t, const int32_t*, int64_t, int64_t, float*, void*, size_t,
                                        CUstream_st*);
template void embedding_backward<double>(const double*, int64_t, const int32_t*, int64_t, int64_t, double*, void*,
                                         size_t, CUstream_st*);

}  // namespace skipper::cuda
