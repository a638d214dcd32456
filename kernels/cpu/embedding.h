// Embedding lookup and its gradient (CPU). Semantics: engine/lstm_ops.h.
#pragma once

#include <cstdint>

namespace skipper::cpu {

// out[m, :] = table[index[m], :], or zeros where index[m] < 0. table [rows, dim], out [n, dim].
template <class T> void embedding_forward(const T* table, int64_t dim, const int32_t* index, int64_t n, T* out);
// d_table [rows, dim] = 0, then d_table[index[m], :] += d_out[m, :] for m = 0..n-1 in order (index < 0 skipped).
template <class T>
void embedding_backward(const T* d_out, int64_t dim, const int32_t* index, int64_t n, int64_t rows, T* d_table);

}  // namespace skipper::cpu
