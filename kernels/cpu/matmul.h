// CPU matrix products through CBLAS (OpenBLAS). Row-major operands.
#pragma once

#include <cstdint>
#include <string>

namespace skipper::cpu {

// c = alpha * op(a) @ op(b) + beta * c; op(a) is [m, k], op(b) is [k, n].
template <class T>
void matmul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
            int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The same over `batch` matrices at fixed strides (a stride of 0 shares a matrix).
template <class T>
void matmul_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                    const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb,
                    int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c, int64_t batch);

// The BLAS actually linked, e.g. "OpenBLAS 0.3.21 ... Cooperlake MAX_THREADS=64".
std::string blas_config();
// True when the linked BLAS is OpenBLAS (not the reference implementation).
bool blas_is_openblas();
void blas_set_num_threads(int num_threads);

}  // namespace skipper::cpu
