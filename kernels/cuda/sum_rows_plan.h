// The order in which the CUDA column reduction (sum_rows, kernels/cuda/reduce.cu)
// adds its numbers, as __host__ __device__ code: the kernels run these
// functions, and tests/cuda/sum_rows_plan_test.cpp runs the same functions on
// the CPU, grid cell by grid cell, against a plain double loop.
//
// out[j] = sum_i x[i, j] over a row-major x [rows, cols]:
// - pass 1: the rows are cut into fixed chunks of chunk_rows(rows) rows; one
//   thread block takes kColumnsPerBlock adjacent columns (a warp reads 32
//   adjacent floats: coalesced) of one chunk, its kLanes rows of threads walk
//   the chunk's rows with stride kLanes in double, and lane 0 adds the kLanes
//   lane sums in lane order into partial[chunk, j];
// - pass 2: one thread per column adds its chunks' partials in chunk order.
// Every sum is taken in an order fixed by (rows, cols) alone: no atomics, so
// the result is bit-identical from run to run.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define SKIPPER_HOST_DEVICE __host__ __device__
#else
#define SKIPPER_HOST_DEVICE
#endif

namespace skipper::sum_rows_plan {

constexpr int kColumnsPerBlock = 32;
constexpr int kLanes = 8;  // rows of threads per block: 256 threads
constexpr int64_t kMinChunkRows = 256;
constexpr int64_t kMaxChunks = 65535;  // the grid's y limit

// Rows per chunk: kMinChunkRows, or more when the rows would need more than
// kMaxChunks chunks.
SKIPPER_HOST_DEVICE inline int64_t chunk_rows(int64_t rows) {
    const int64_t needed = (rows + kMaxChunks - 1) / kMaxChunks;
    return needed > kMinChunkRows ? needed : kMinChunkRows;
}

SKIPPER_HOST_DEVICE inline int64_t num_chunks(int64_t rows) {
    const int64_t per = chunk_rows(rows);
    return rows == 0 ? 0 : (rows + per - 1) / per;
}

// Pass 1, one thread: lane `lane` of chunk `chunk`, column j.
template <class T>
SKIPPER_HOST_DEVICE inline double lane_sum(const T* x, int64_t rows, int64_t cols, int64_t chunk, int lane,
                                           int64_t j) {
    const int64_t per = chunk_rows(rows);
    const int64_t begin = chunk * per;
    const int64_t end = begin + per < rows ? begin + per : rows;
    double acc = 0.0;
    for (int64_t i = begin + lane; i < end; i += kLanes) acc += static_cast<double>(x[i * cols + j]);
    return acc;
}

// Pass 1, lane 0 after the block's barrier: the lanes' sums in lane order.
SKIPPER_HOST_DEVICE inline double combine_lanes(const double* lane_sums) {
    double acc = 0.0;
    for (int lane = 0; lane < kLanes; ++lane) acc += lane_sums[lane];
    return acc;
}

// Pass 2: column j's partials [chunks, cols] in chunk order.
SKIPPER_HOST_DEVICE inline double combine_chunks(const double* partial, int64_t chunks, int64_t cols, int64_t j) {
    double acc = 0.0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) acc += partial[chunk * cols + j];
    return acc;
}

}  // namespace skipper::sum_rows_plan
