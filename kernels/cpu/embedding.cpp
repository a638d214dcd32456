#include "kernels/cpu/embedding.h"

#include <algorithm>

namespace skipper::cpu {

template <class T> void embedding_forward(const T* table, int64_t dim, const int32_t* index, int64_t n, T* out) {
#pragma omp parallel for schedule(static) if (n * dim > 65536)
    for (int64_t m = 0; m < n; ++m) {
        T* row = out + m * dim;
        if (index[m] < 0) std::fill(row, row + dim, T(0));
        else std::copy(table + int64_t{index[m]} * dim, table + (int64_t{index[m]} + 1) * dim, row);
    }
}

// One pass in the order of m: a table row's sum is always taken in the same
// order, so the result does not depend on the thread count. The batches here
// hold a few thousand steps; the pass costs less than zeroing the table.
template <class T>
void embedding_backward(const T* d_out, int64_t dim, const int32_t* index, int64_t n, int64_t rows, T* d_table) {
    std::fill(d_table, d_table + rows * dim, T(0));
    for (int64_t m = 0; m < n; ++m) {
        if (index[m] < 0) continue;
        T* row = d_table + int64_t{index[m]} * dim;
        const T* g = d_out + m * dim;
        for (int64_t j = 0; j < dim; ++j) row[j] += g[j];
    }
}

template void embedding_forward<float>(const float*, int64_t, const int32_t*, int64_t, float*);
template void embedding_forward<double>(const double*, int64_t, const int32_t*, int64_t, double*);
template void embedding_backward<float>(const float*, int64_t, const int32_t*, int64_t, int64_t, float*);
template void embedding_backward<double>(const double*, int64_t, const int32_t*, int64_t, int64_t, double*);

}  // namespace skipper::cpu
