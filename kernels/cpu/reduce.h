// Sum reductions on the CPU. Partial sums are taken over fixed blocks of
// kSumBlock elements and combined in block order, so the result does not
// depend on the thread count.
#pragma once

#include <cstdint>

namespace skipper::cpu {

constexpr int64_t kSumBlock = 4096;

template <class T> double sum(const T* x, int64_t n);
// out[j] = sum_i x[i * cols + j]
template <class T> void sum_rows(const T* x, int64_t rows, int64_t cols, T* out);

}  // namespace skipper::cpu
