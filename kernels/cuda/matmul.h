// CUDA matrix products through cuBLAS. Row-major operands, as on the CPU.
#pragma once

#include <cstdint>

struct cublasContext;

namespace skipper::cuda {

// c = alpha * op(a) @ op(b) + beta * c; op(a) is [m, k], op(b) is [k, n].
// `tf32` allows TF32 tensor cores for f32 (ignored for f64).
template <class T>
void matmul(cublasContext* handle, bool tf32, bool trans_a, bool trans_b, int64_t m, int64_t n,
            int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
            int64_t ldc);

template <class T>
void matmul_batched(cublasContext* handle, bool tf32, bool trans_a, bool trans_b, int64_t m,
                    int64_t n, int64_t k, T alpha, const T* a, int64_t lda, int64_t stride_a,
                    const T* b, int64_t ldb, int64_t stride_b, T beta, T* c, int64_t ldc,
                    int64_t stride_c, int64_t batch);

}  // namespace skipper::cuda
