// The GBDT's histogram ops (layout in kernels/cpu/histogram.h). One signature
// for every device; the dispatch on the tensors' device happens in
// engine/histogram_ops.cpp.
#pragma once

#include "engine/context.h"
#include "engine/tensor.h"

namespace skipper::ops {

// bins: u8 [rows, features], row-major; feature_offsets: i32 [features + 1]
// (feature f owns histogram slots offsets[f] .. offsets[f + 1] - 1);
// gradients, hessians: f32 [rows]; row_indices: i32 [n], the rows to sum (a
// leaf's rows), or an undefined tensor for every row.
// histogram: f64 [offsets[features], 4], 32-byte aligned, overwritten with
// per-bin sums of (gradient, hessian, 1, 0). Bit-identical for any thread count.
void histogram_build(Context& ctx, const Tensor& bins, const Tensor& feature_offsets, const Tensor& gradients,
                     const Tensor& hessians, const Tensor& row_indices, Tensor& histogram);

// out = parent - child (the subtraction trick: a leaf's larger child from its
// parent and its smaller child). out may alias parent.
void histogram_subtract(Context& ctx, const Tensor& parent, const Tensor& child, Tensor& out);

}  // namespace skipper::ops
