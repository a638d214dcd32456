#include "engine/lstm_ops.h"

#include "engine/error.h"
#include "kernels/cpu/adam.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/lstm_cell.h"

#if SKIPPER_HAS_CUDA
#include "kernels/cuda/adam.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/lstm_cell.h"
#define SKIPPER_ON_CUDA(...) __VA_ARGS__
#else
#define SKIPPER_ON_CUDA(...) throw Error("this Skipper binary was built without CUDA")
#endif

namespace skipper::ops {

namespace {

// The messages are built only on failure: these checks run a few hundred
// times per training step.
// t must have `shape`, the dtype and the device of `like`.
void require_tensor(const char* op, const char* name, const Tensor& t, const Shape& shape, const Tensor& like) {
    if (!t.defined()) throw Error(std::string(op) + ": " + name + " is undefined");
    if (t.shape() != shape || t.dtype() != like.dtype() || t.device() != like.device())
        throw Error(std::string(op) + ": " + name + ": expected " + dtype_name(like.dtype()) + shape_string(shape) +
                    "@" + device_name(like.device()) + ", got " + t.describe());
}

void require_float(const char* op, const Tensor& t) {
    if (!t.defined() || (t.dtype() != DType::f32 && t.dtype() != DType::f64))
        throw Error(std::string(op) + ": expected f32 or f64, got " +
                    (t.defined() ? t.describe() : std::string("an undefined tensor")));
}

template <class F> void dispatch_float(DType dtype, F&& f) {
    if (dtype == DType::f32) f(float{});
    else f(double{});
}

}  // namespace

void lstm_cell_forward(Context& ctx, Tensor& gates, const Tensor& bias, const Tensor& c_prev, const Tensor& h_prev,
                       const Tensor& mask, Tensor& c, Tensor& h) {
    const char* op = "lstm_cell_forward";
    require_context_device(op, ctx, gates);
    require_float(op, gates);
    if (gates.dim() != 2 || gates.size(1) % 4 != 0)
        throw Error(std::string(op) + ": gates must be [B, 4H], got " + gates.describe());
    const int64_t batch = gates.size(0), hidden = gates.size(1) / 4;
    require_tensor(op, "bias", bias, {4 * hidden}, gates);
    require_tensor(op, "c_prev", c_prev, {batch, hidden}, gates);
    require_tensor(op, "h_prev", h_prev, {batch, hidden}, gates);
    require_tensor(op, "mask", mask, {batch}, gates);
    require_tensor(op, "c", c, {batch, hidden}, gates);
    require_tensor(op, "h", h, {batch, hidden}, gates);
    dispatch_float(gates.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (gates.device() == Device::cpu)
            cpu::lstm_cell_forward<T>(gates.data<T>(), bias.data<T>(), c_prev.data<T>(), h_prev.data<T>(),
                                      mask.data<T>(), c.data<T>(), h.data<T>(), batch, hidden);
        else
            SKIPPER_ON_CUDA(cuda::lstm_cell_forward<T>(gates.data<T>(), bias.data<T>(), c_prev.data<T>(),
                                                       h_prev.data<T>(), mask.data<T>(), c.data<T>(), h.data<T>(),
                                                       batch, hidden, ctx.cuda_stream()));
    });
}

void lstm_cell_backward(Context& ctx, const Tensor& gates, const Tensor& c_prev, const Tensor& c, const Tensor& mask,
                        const Tensor& dh, const Tensor& dc, Tensor& dgates, Tensor& dc_prev, Tensor& dh_prev) {
    const char* op = "lstm_cell_backward";
    require_context_device(op, ctx, gates);
    require_float(op, gates);
    if (gates.dim() != 2 || gates.size(1) % 4 != 0)
        throw Error(std::string(op) + ": gates must be [B, 4H], got " + gates.describe());
    const int64_t batch = gates.size(0), hidden = gates.size(1) / 4;
    require_tensor(op, "c_prev", c_prev, {batch, hidden}, gates);
    require_tensor(op, "c", c, {batch, hidden}, gates);
    require_tensor(op, "mask", mask, {batch}, gates);
    require_tensor(op, "dh", dh, {batch, hidden}, gates);
    require_tensor(op, "dc", dc, {batch, hidden}, gates);
    require_tensor(op, "dgates", dgates, {batch, 4 * hidden}, gates);
    require_tensor(op, "dc_prev", dc_prev, {batch, hidden}, gates);
    require_tensor(op, "dh_prev", dh_prev, {batch, hidden}, gates);
    dispatch_float(gates.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (gates.device() == Device::cpu)
            cpu::lstm_cell_backward<T>(gates.data<T>(), c_prev.data<T>(), c.data<T>(), mask.data<T>(), dh.data<T>(),
                                       dc.data<T>(), dgates.data<T>(), dc_prev.data<T>(), dh_prev.data<T>(), batch,
                                       hidden);
        else
            SKIPPER_ON_CUDA(cuda::lstm_cell_backward<T>(gates.data<T>(), c_prev.data<T>(), c.data<T>(),
                                                        mask.data<T>(), dh.data<T>(), dc.data<T>(), dgates.data<T>(),
                                                        dc_prev.data<T>(), dh_prev.data<T>(), batch, hidden,
                                                        ctx.cuda_stream()));
    });
}

void add_bias(Context& ctx, Tensor& x, const Tensor& bias) {
    const char* op = "add_bias";
    require_context_device(op, ctx, x);
    require_float(op, x);
    if (x.dim() != 2) throw Error(std::string(op) + ": x must be [N, M], got " + x.describe());
    require_tensor(op, "bias", bias, {x.size(1)}, x);
    dispatch_float(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) cpu::add_bias<T>(x.data<T>(), bias.data<T>(), x.size(0), x.size(1));
        else SKIPPER_ON_CUDA(cuda::add_bias<T>(x.data<T>(), bias.data<T>(), x.size(0), x.size(1), ctx.cuda_stream()));
    });
}

double bce_with_logits_forward(Context& ctx, const Tensor& logits, const Tensor& targets, const Tensor& weights) {
    const char* op = "bce_with_logits_forward";
    require_context_device(op, ctx, logits);
    require_float(op, logits);
    require_tensor(op, "targets", targets, logits.shape(), logits);
    require_tensor(op, "weights", weights, logits.shape(), logits);
    double loss = 0.0;
    dispatch_float(logits.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (logits.device() == Device::cpu)
            loss = cpu::bce_with_logits_forward<T>(logits.data<T>(), targets.data<T>(), weights.data<T>(),
                                                   logits.numel());
        else
            SKIPPER_ON_CUDA(loss = cuda::bce_with_logits_forward<T>(logits.data<T>(), targets.data<T>(),
                                                                    weights.data<T>(), logits.numel(),
                                                                    ctx.cuda_stream()));
    });
    return loss;
}

void bce_with_logits_backward(Context& ctx, const Tensor& logits, const Tensor& targets, const Tensor& weights,
                              Tensor& dlogits) {
    const char* op = "bce_with_logits_backward";
    require_context_device(op, ctx, logits);
    require_float(op, logits);
    require_tensor(op, "targets", targets, logits.shape(), logits);
    require_tensor(op, "weights", weights, logits.shape(), logits);
    require_tensor(op, "dlogits", dlogits, logits.shape(), logits);
    dispatch_float(logits.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (logits.device() == Device::cpu)
            cpu::bce_with_logits_backward<T>(logits.data<T>(), targets.data<T>(), weights.data<T>(), logits.numel(),
                                             dlogits.data<T>());
        else
            SKIPPER_ON_CUDA(cuda::bce_with_logits_backward<T>(logits.data<T>(), targets.data<T>(), weights.data<T>(),
                                                              logits.numel(), dlogits.data<T>(), ctx.cuda_stream()));
    });
}

namespace {

template <bool Backward>
void dropout(const char* op, Context& ctx, const Tensor& in, double p, uint64_t seed, Tensor& out, DropoutSlice slice) {
    require_context_device(op, ctx, in);
    require_float(op, in);
    require_tensor(op, "output", out, in.shape(), in);
    if (!(p >= 0.0 && p < 1.0)) throw Error(std::string(op) + ": p must be in [0, 1), got " + std::to_string(p));
    const int64_t n = in.numel();
    if (slice.block == 0) slice = {std::max<int64_t>(n, 1), std::max<int64_t>(n, 1), 0};
    if (slice.block < 0 || n % slice.block != 0 || slice.stride < slice.block || slice.first < 0)
        throw Error(std::string(op) + ": the slice (block " + std::to_string(slice.block) + ", stride " +
                    std::to_string(slice.stride) + ", first " + std::to_string(slice.first) + ") does not fit " +
                    in.describe());
    cpu::DropoutIndex index{slice.block, slice.stride, slice.first};
    if (slice.rows.defined()) {
        if (slice.row_width < 1 || slice.block % slice.row_width != 0 || slice.rows.dtype() != DType::i32 ||
            slice.rows.device() != in.device() || slice.rows.numel() != slice.block / slice.row_width)
            throw Error(std::string(op) + ": the slice's rows " + slice.rows.describe() + " (row width " +
                        std::to_string(slice.row_width) + ") do not fit steps of " + std::to_string(slice.block) +
                        " elements on " + in.describe());
        index.rows = slice.rows.data<int32_t>();
        index.row_width = slice.row_width;
    }
    dispatch_float(in.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (in.device() == Device::cpu) {
            if (Backward) cpu::dropout_backward<T>(in.data<T>(), n, p, seed, index, out.data<T>());
            else cpu::dropout_forward<T>(in.data<T>(), n, p, seed, index, out.data<T>());
        } else if (Backward) {
            SKIPPER_ON_CUDA(cuda::dropout_backward<T>(in.data<T>(), n, p, seed, index, out.data<T>(), ctx.cuda_stream()));
        } else {
            SKIPPER_ON_CUDA(cuda::dropout_forward<T>(in.data<T>(), n, p, seed, index, out.data<T>(), ctx.cuda_stream()));
        }
    });
}

}  // namespace

void dropout_forward(Context& ctx, const Tensor& x, double p, uint64_t seed, Tensor& y, const DropoutSlice& slice) {
    dropout<false>("dropout_forward", ctx, x, p, seed, y, slice);
}

void dropout_backward(Context& ctx, const Tensor& dy, double p, uint64_t seed, Tensor& dx, const DropoutSlice& slice) {
    dropout<true>("dropout_backward", ctx, dy, p, seed, dx, slice);
}

namespace {

// table/d_table [rows, D], index i32 [n], rows/d_rows [n, D]; on the CPU every
// index is checked (on CUDA the caller's host code produced them).
void require_embedding(const char* op, Context& ctx, const Tensor& table, const Tensor& index, const Tensor& rows) {
    require_context_device(op, ctx, table);
    require_float(op, table);
    if (table.dim() != 2) throw Error(std::string(op) + ": the table must be [rows, D], got " + table.describe());
    if (!index.defined() || index.dtype() != DType::i32 || index.dim() != 1 || index.device() != table.device())
        throw Error(std::string(op) + ": index must be i32 [n] on the table's device, got " +
                    (index.defined() ? index.describe() : std::string("an undefined tensor")));
    require_tensor(op, "rows", rows, {index.size(0), table.size(1)}, table);
    if (index.device() != Device::cpu) return;
    const auto* idx = index.data<int32_t>();
    for (int64_t m = 0; m < index.size(0); ++m)
        if (idx[m] < -1 || idx[m] >= table.size(0))
            throw Error(std::string(op) + ": index[" + std::to_string(m) + "] = " + std::to_string(idx[m]) +
                        " outside [-1, " + std::to_string(table.size(0)) + ")");
}

}  // namespace

void embedding_forward(Context& ctx, const Tensor& table, const Tensor& index, Tensor& out) {
    require_embedding("embedding_forward", ctx, table, index, out);
    dispatch_float(table.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (table.device() == Device::cpu)
            cpu::embedding_forward<T>(table.data<T>(), table.size(1), index.data<int32_t>(), index.size(0),
                                      out.data<T>());
        else
            SKIPPER_ON_CUDA(cuda::embedding_forward<T>(table.data<T>(), table.size(1), index.data<int32_t>(),
                                                       index.size(0), out.data<T>(), ctx.cuda_stream()));
    });
}

void embedding_backward(Context& ctx, const Tensor& d_out, const Tensor& index, Tensor& d_table) {
    require_embedding("embedding_backward", ctx, d_table, index, d_out);
    dispatch_float(d_table.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const int64_t n = index.size(0), dim = d_table.size(1), rows = d_table.size(0);
        if (d_table.device() == Device::cpu) {
            cpu::embedding_backward<T>(d_out.data<T>(), dim, index.data<int32_t>(), n, rows, d_table.data<T>());
        } else {
            SKIPPER_ON_CUDA({
                const size_t bytes = cuda::embedding_backward_workspace_bytes(n);
                Tensor workspace = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, ctx);
                cuda::embedding_backward<T>(d_out.data<T>(), dim, index.data<int32_t>(), n, rows, d_table.data<T>(),
                                            workspace.raw(), bytes, ctx.cuda_stream());
            });
        }
    });
}

void adam_step(Context& ctx, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamOptions& options,
               int64_t step) {
    const char* op = "adam_step";
    require_context_device(op, ctx, param);
    require_float(op, param);
    require_tensor(op, "grad", grad, param.shape(), param);
    require_tensor(op, "m", m, param.shape(), param);
    require_tensor(op, "v", v, param.shape(), param);
    if (step < 1) throw Error(std::string(op) + ": step counts from 1, got " + std::to_string(step));
    dispatch_float(param.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (param.device() == Device::cpu)
            cpu::adam_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(),
                              options.learning_rate, options.beta1, options.beta2, options.epsilon,
                              options.weight_decay, step);
        else
            SKIPPER_ON_CUDA(cuda::adam_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(),
                                               param.numel(), options.learning_rate, options.beta1, options.beta2,
                                               options.epsilon, options.weight_decay, step, ctx.cuda_stream()));
    });
}

}  // namespace skipper::ops
