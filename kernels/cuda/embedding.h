// Embedding lookup and its gradient (CUDA), twins of kernels/cpu/embedding.h.
// The backward pass is deterministic: no floating-point atomics. The indices
// are sorted with their positions (a stable radix sort, so the positions of
// one table row stay in increasing order), and one thread per (table row,
// column) sums its segment in that order, as the CPU does.
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

template <class T>
void embedding_forward(const T* table, int64_t dim, const int32_t* index, int64_t n, T* out, CUstream_st* stream);

// Bytes of device workspace embedding_backward needs for n indices.
size_t embedding_backward_workspace_bytes(int64_t n);
template <class T>
void embedding_backward(const T* d_out, int64_t dim, const int32_t* index, int64_t n, int64_t rows, T* d_table,
                        void* workspace, size_t workspace_bytes, CUstream_st* stream);

}  // namespace skipper::cuda
