#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <cstring>

// OpenBLAS extensions, declared here so that no OpenBLAS-only header is needed.
extern "C" {
char* openblas_get_config(void);
void openblas_set_num_threads(int num_threads);
}

namespace skipper::cpu {

namespace {

CBLAS_TRANSPOSE transpose_flag(bool transposed) { return transposed ? CblasTrans : CblasNoTrans; }

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, transpose_flag(ta), transpose_flag(tb), static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    cblas_dgemm(CblasRowMajor, transpose_flag(ta), transpose_flag(tb), static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace

template <class T>
void matmul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
            int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        // BLAS would still scale c by beta; do it here so empty products are defined.
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
        return;
    }
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void matmul_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                    const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb,
                    int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c, int64_t batch) {
    // Each product is large enough for BLAS's own threads; looping keeps one
    // level of parallelism instead of nesting OpenMP around threaded BLAS.
    for (int64_t i = 0; i < batch; ++i)
        matmul(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
               c + i * stride_c, ldc);
}

template void matmul<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                            const float*, int64_t, float, float*, int64_t);
template void matmul<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                             const double*, int64_t, double, double*, int64_t);
template void matmul_batched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                    int64_t, int64_t, const float*, int64_t, int64_t, float, float*,
                                    int64_t, int64_t, int64_t);
template void matmul_batched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                     int64_t, int64_t, const double*, int64_t, int64_t, double,
                                     double*, int64_t, int64_t, int64_t);

std::string blas_config() { return openblas_get_config(); }

bool blas_is_openblas() { return std::strstr(openblas_get_config(), "OpenBLAS") != nullptr; }

void blas_set_num_threads(int num_threads) { openblas_set_num_threads(num_threads); }

}  // namespace skipper::cpu
