// The LSTM's ops, shared by the CPU and CUDA paths (kernels/cpu/lstm_cell.cpp,
// kernels/cuda/lstm_cell.cu and their twins for the loss and the optimizer).
//
// Conventions, as in PyTorch's nn.LSTM:
// - gate order along the 4H axis is i, f, g, o;
// - one layer direction has W_ih [4H, F], W_hh [4H, H] and one bias [4H]
//   (PyTorch's b_ih + b_hh, Keras's single bias);
// - per step, the caller computes the pre-activations
//     gates = x_t W_ih^T + h_{t-1} W_hh^T     (bias not added)
//   with matrix products (the x part for all steps at once), then calls
//   lstm_cell_forward, which adds the bias, applies the activations and
//   updates the state.
// - mask [B] (f32 or f64, 1 = real step, 0 = padding): at a padded step the
//   state is carried unchanged (h_t = h_{t-1}, c_t = c_{t-1}), so a reverse
//   direction over right-padded sequences starts at each sequence's last step.
#pragma once

#include <string>

#include "engine/context.h"
#include "engine/tensor.h"

namespace skipper::ops {

// gates [B, 4H]: in: pre-activations; out: activations (sigmoid i, f, o; tanh g),
//   kept for the backward pass.
// bias [4H]; c_prev, h_prev [B, H]; mask [B]. Out: c, h [B, H].
void lstm_cell_forward(Context& ctx, Tensor& gates, const Tensor& bias, const Tensor& c_prev, const Tensor& h_prev,
                       const Tensor& mask, Tensor& c, Tensor& h);

// gates: the activations saved by the forward pass; c_prev, c: the cell states
// around the step; dh [B, H]: the whole gradient reaching h_t; dc [B, H]: the
// gradient reaching c_t from step t+1.
// Out: dgates [B, 4H], the pre-activation gradients (0 on padded rows);
//      dc_prev [B, H], the gradient reaching c_{t-1};
//      dh_prev [B, H] = (1 - mask) * dh, the carried part of the gradient
//      reaching h_{t-1}; the caller adds dgates @ W_hh (beta = 1).
// dc_prev may alias dc, and dh_prev may alias dh.
void lstm_cell_backward(Context& ctx, const Tensor& gates, const Tensor& c_prev, const Tensor& c, const Tensor& mask,
                        const Tensor& dh, const Tensor& dc, Tensor& dgates, Tensor& dc_prev, Tensor& dh_prev);

// x [N, M] += bias [M] on every row.
void add_bias(Context& ctx, Tensor& x, const Tensor& bias);

// Binary cross-entropy on logits, averaged over the positions whose weight is
// nonzero: loss = sum_i w_i * (softplus(z_i) - y_i z_i) / sum_i w_i.
// logits, targets, weights: same shape. Returns 0 when every weight is 0.
double bce_with_logits_forward(Context& ctx, const Tensor& logits, const Tensor& targets, const Tensor& weights);
// dlogits = w * (sigmoid(z) - y) / sum_i w_i.
void bce_with_logits_backward(Context& ctx, const Tensor& logits, const Tensor& targets, const Tensor& weights,
                              Tensor& dlogits);

// Inverted dropout with drop probability p in [0, 1): element i of x is kept,
// and scaled by 1 / (1 - p), when counter_uniform(seed, i) >= p
// (kernels/cpu/random.h). The mask is drawn from (seed, i) alone, so it is the
// same on every device and thread count, and the backward pass redraws it
// instead of storing it. y (dx) may be x (dy) itself.
//
// `slice` places x inside a larger tensor whose index i stands for: a rank of
// a data-parallel job holds some batch rows of every time step, and draws each
// element on its index in the global batch, so that the ranks together drop
// what one process drops. x is then `numel / block` steps of `block` elements,
// step s starting at index first + s * stride of the global tensor. The default
// (block 0) is x itself: element i on index i. With `rows`, the rows of a
// step need not be contiguous in the global step: a step is rows of
// `row_width` elements, and row r stands at row rows[r] of the global step
// (a rank's sessions of a global batch are those it read, wherever they fall).
struct DropoutSlice {
    int64_t block = 0;   // elements of one step here
    int64_t stride = 0;  // elements of one step in the global tensor
    int64_t first = 0;   // the global index of x's first element
    Tensor rows;         // i32 [block / row_width] on x's device, or undefined: contiguous
    int64_t row_width = 0;
};
void dropout_forward(Context& ctx, const Tensor& x, double p, uint64_t seed, Tensor& y, const DropoutSlice& slice = {});
// dx = d loss / d x given dy = d loss / d y, for the same p, seed and slice.
void dropout_backward(Context& ctx, const Tensor& dy, double p, uint64_t seed, Tensor& dx,
                      const DropoutSlice& slice = {});

// Embedding lookup (the track-id embedding): out[m, :] = table[index[m], :],
// or zeros where index[m] = -1 (padding). table [rows, D] (f32/f64), index
// i32 [n] in [-1, rows), out [n, D] of the table's dtype.
void embedding_forward(Context& ctx, const Tensor& table, const Tensor& index, Tensor& out);
// d_table = the sum over m with index[m] = r of d_out[m, :], per row r
// (overwritten; rows no index names are 0). Deterministic on every device:
// each row's sum is taken over its m in increasing order (on CUDA after a
// stable sort of the indices, with no floating-point atomics).
void embedding_backward(Context& ctx, const Tensor& d_out, const Tensor& index, Tensor& d_table);

struct AdamOptions {
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-7;  // Keras's default; PyTorch uses 1e-8
    double weight_decay = 0.0;
};

// One Adam update of `param` from `grad`, with moment buffers m and v (same
// shape, zero at step 0). `step` counts from 1 (bias correction as in
// Kingma & Ba, and as in PyTorch's torch.optim.Adam).
void adam_step(Context& ctx, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamOptions& options,
               int64_t step);

// How lstm_recurrent_forward runs the recurrence.
enum class RecurrentAlgorithm {
    // Per step, the product h_{t-1} W_hh^T (cuBLAS on CUDA, BLAS on the CPU)
    // and the fused cell kernel: 2T launches per direction. Every device.
    standard,
    // One persistent kernel for all T steps, W_hh held in the shared memory of
    // a thread-block cluster (cuDNN's PERSIST_STATIC_SMALL_H): f32, CUDA
    // devices of compute capability 9.0 or newer, hidden size <= 192
    // (lstm_recurrent_algorithm_available).
    persist_small_h,
};
RecurrentAlgorithm parse_recurrent_algorithm(const std::string& text);  // "standard" | "persist_small_h"
const char* recurrent_algorithm_name(RecurrentAlgorithm algorithm);
bool lstm_recurrent_algorithm_available(const Context& ctx, RecurrentAlgorithm algorithm, DType dtype,
                                        int64_t batch, int64_t hidden);

// One direction's whole forward recurrence over T steps. For each processing
// step s (time t = s forward, t = T-1-s with reverse):
//   gates_t += h_{t-1} W_hh^T   (not at s = 0: the initial state is zero)
//   lstm_cell_forward(gates_t, bias, c_{t-1}, h_{t-1}, mask_t) -> c_t, h_t
// gates [T, B, 4H]: in: every step's input projection x_t W_ih^T; out: the
//   activations, kept for the backward pass.
// w_hh [4H, H]; bias [4H]; mask [T, B].
// h, c [T+1, B, H]: the zero initial state in slot 0 (forward) or slot T
//   (reverse); step t writes slot t+1 (forward) or slot t (reverse).
// The algorithms compute the same values up to the summation order of the
// product.
void lstm_recurrent_forward(Context& ctx, const Tensor& w_hh, const Tensor& bias, const Tensor& mask, bool reverse,
                            Tensor& gates, Tensor& h, Tensor& c,
                            RecurrentAlgorithm algorithm = RecurrentAlgorithm::standard);

}  // namespace skipper::ops
