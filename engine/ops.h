// The op API both learners call. Each op takes tensors and a context, checks
// shapes, dtypes and devices, and dispatches on the tensors' device to its CPU
// kernel (kernels/cpu/) or CUDA kernel (kernels/cuda/). The dispatch happens
// here and nowhere else. Floating-point ops accept f32 and f64.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/context.h"
#include "engine/tensor.h"

namespace skipper::ops {

// c = alpha * op(a) @ op(b) + beta * c, with op(x) = x or x^T.
// a, b, c are row-major 2-D tensors; op(a) is [M, K], op(b) is [K, N], c is [M, N].
void matmul(Context& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
            double alpha = 1.0, double beta = 0.0);

// The same for every index of a leading batch axis: a [batch, ...], b [batch, ...],
// c [batch, M, N]. A batch stride of 0 (b given as 2-D) shares b across the batch.
void matmul_batched(Context& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b,
                    Tensor& c, double alpha = 1.0, double beta = 0.0);

// y = sigmoid(x); dx = dy * y * (1 - y) from the forward output y.
void sigmoid_forward(Context& ctx, const Tensor& x, Tensor& y);
void sigmoid_backward(Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx);
// y = tanh(x); dx = dy * (1 - y^2) from the forward output y.
void tanh_forward(Context& ctx, const Tensor& x, Tensor& y);
void tanh_backward(Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx);

// out = a + b (same shapes; out may alias a or b).
void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& out);
// out = alpha * x (out may alias x).
void scale(Context& ctx, const Tensor& x, double alpha, Tensor& out);
void fill(Context& ctx, Tensor& x, double value);

// Sum of every element, accumulated in double in fixed-size blocks so that the
// result is identical for any thread count.
double sum(Context& ctx, const Tensor& x);
// out[j] = sum_i x[i, j] for a 2-D x [M, N]; out is [N]. (Bias gradients.)
void sum_rows(Context& ctx, const Tensor& x, Tensor& out);

// Fills x with values uniform in [lo, hi) from a counter-based generator:
// element i depends only on (seed, i), so every device gives the same values.
void fill_uniform(Context& ctx, Tensor& x, double lo, double hi, uint64_t seed);

// Hashed ids (the LSTM's track-id embedding): a key's hash in [0, 2^31), the
// same on every machine, build and run (FNV-1a of its bytes, mixed by
// counter_hash), and its row in a table of `buckets` rows. The data keeps the
// hash, so one sequence form serves any table size.
int32_t key_hash(std::string_view key);
inline int32_t hash_bucket(int32_t hash, int64_t buckets) { return static_cast<int32_t>(hash % buckets); }

}  // namespace skipper::ops
