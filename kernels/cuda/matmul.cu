#include "kernels/cuda/matmul.h"

#include "kernels/cuda/blas_int.h"
#include "kernels/cuda/check.h"

namespace skipper::cuda {

// cuBLAS is column-major. A row-major [m, n] matrix is a column-major [n, m]
// one, so row-major c = op(a) op(b) is computed as column-major
// c^T = op(b)^T op(a)^T: swap the operands and the m/n roles.
namespace {

cublasOperation_t op_flag(bool transposed) { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Every size and leading dimension of one product, checked into cuBLAS's int.
struct BlasSizes {
    int m, n, k, lda, ldb, ldc;
};
BlasSizes blas_sizes(const char* op, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
    return {blas_int(op, "m", m),     blas_int(op, "n", n),     blas_int(op, "k", k),
            blas_int(op, "lda", lda), blas_int(op, "ldb", ldb), blas_int(op, "ldc", ldc)};
}

void set_math_mode(cublasHandle_t handle, bool tf32) {
    SKIPPER_CUBLAS_CHECK(cublasSetMathMode(handle, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

void gemm(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    const BlasSizes s = blas_sizes("matmul", m, n, k, lda, ldb, ldc);
    SKIPPER_CUBLAS_CHECK(
        cublasSgemm(h, op_flag(tb), op_flag(ta), s.n, s.m, s.k, &alpha, b, s.ldb, a, s.lda, &beta, c, s.ldc));
}

void gemm(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    const BlasSizes s = blas_sizes("matmul", m, n, k, lda, ldb, ldc);
    SKIPPER_CUBLAS_CHECK(
        cublasDgemm(h, op_flag(tb), op_flag(ta), s.n, s.m, s.k, &alpha, b, s.ldb, a, s.lda, &beta, c, s.ldc));
}

void gemm_strided(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, int64_t sa, const float* b, int64_t ldb, int64_t sb,
                  float beta, float* c, int64_t ldc, int64_t sc, int64_t batch) {
    const BlasSizes s = blas_sizes("matmul_batched", m, n, k, lda, ldb, ldc);
    SKIPPER_CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_flag(tb), op_flag(ta), s.n, s.m, s.k, &alpha, b, s.ldb, sb,
                                                   a, s.lda, sa, &beta, c, s.ldc, sc,
                                                   blas_int("matmul_batched", "batch", batch)));
}

void gemm_strided(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                  const double* a, int64_t lda, int64_t sa, const double* b, int64_t ldb, int64_t sb,
                  double beta, double* c, int64_t ldc, int64_t sc, int64_t batch) {
    const BlasSizes s = blas_sizes("matmul_batched", m, n, k, lda, ldb, ldc);
    SKIPPER_CUBLAS_CHECK(cublasDgemmStridedBatched(h, op_flag(tb), op_flag(ta), s.n, s.m, s.k, &alpha, b, s.ldb, sb,
                                                   a, s.lda, sa, &beta, c, s.ldc, sc,
                                                   blas_int("matmul_batched", "batch", batch)));
}

}  // namespace

template <class T>
void matmul(cublasContext* handle, bool tf32, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    set_math_mode(handle, tf32);
    // cuBLAS requires lda >= 1 even when k == 0; it then only scales c by beta.
    gemm(handle, trans_a, trans_b, m, n, k, alpha, a, lda > 0 ? lda : 1, b, ldb > 0 ? ldb : 1, beta, c, ldc);
}

template <class T>
void matmul_batched(cublasContext* handle, bool tf32, bool trans_a, bool trans_b, int64_t m, int64_t n,
                    int64_t k, T alpha, const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb,
                    int64_t stride_b, T beta, T* c, int64_t ldc, int64_t stride_c, int64_t batch) {
    if (m == 0 || n == 0 || batch == 0) return;
    set_math_mode(handle, tf32);
    gemm_strided(handle, trans_a, trans_b, m, n, k, alpha, a, lda > 0 ? lda : 1, stride_a, b, ldb > 0 ? ldb : 1,
                 stride_b, beta, c, ldc, stride_c, batch);
}

template void matmul<float>(cublasContext*, bool, bool, bool, int64_t, int64_t, int64_t, float, const float*,
                            int64_t, const float*, int64_t, float, float*, int64_t);
template void matmul<double>(cublasContext*, bool, bool, bool, int64_t, int64_t, int64_t, double, const double*,
                             int64_t, const double*, int64_t, double, double*, int64_t);
template void matmul_batched<float>(cublasContext*, bool, bool, bool, int64_t, int64_t, int64_t, float,
                                    const float*, int64_t, int64_t, const float*, int64_t, int64_t, float,
                                    float*, int64_t, int64_t, int64_t);
template void matmul_batched<double>(cublasContext*, bool, bool, bool, int64_t, int64_t, int64_t, double,
                                     const double*, int64_t, int64_t, const double*, int64_t, int64_t, double,
                                     double*, int64_t, int64_t, int64_t);

}  // namespace skipper::cuda
