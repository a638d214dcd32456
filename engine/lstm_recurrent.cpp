// ops::lstm_recurrent_forward (engine/lstm_ops.h): the standard algorithm as
// the per-step op calls, the persistent one as one CUDA kernel.
#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"

#if SKIPPER_HAS_CUDA
#include "kernels/cuda/lstm_persistent.h"
#endif

namespace skipper::ops {

RecurrentAlgorithm parse_recurrent_algorithm(const std::string& text) {
    if (text == "standard") return RecurrentAlgorithm::standard;
    if (text == "persist_small_h") return RecurrentAlgorithm::persist_small_h;
    throw ParamError("rnn_algorithm", "expected standard or persist_small_h, got '" + text + "'");
}

const char* recurrent_algorithm_name(RecurrentAlgorithm algorithm) {
    return algorithm == RecurrentAlgorithm::standard ? "standard" : "persist_small_h";
}

bool lstm_recurrent_algorithm_available(const Context& ctx, RecurrentAlgorithm algorithm, DType dtype,
                                        int64_t batch, int64_t hidden) {
    if (algorithm == RecurrentAlgorithm::standard) return true;
    if (ctx.device() != Device::cuda || dtype != DType::f32) return false;
#if SKIPPER_HAS_CUDA
    return cuda::lstm_persistent_supported(batch, hidden);
#else
    (void)batch;
    (void)hidden;
    return false;
#endif
}

namespace {

void require_shape(const char* name, const Tensor& t, const Shape& shape, const Tensor& like) {
    if (!t.defined() || t.shape() != shape || t.dtype() != like.dtype() || t.device() != like.device())
        throw Error(std::string("lstm_recurrent_forward: ") + name + ": expected " + dtype_name(like.dtype()) +
                    shape_string(shape) + "@" + device_name(like.device()) + ", got " +
                    (t.defined() ? t.describe() : std::string("an undefined tensor")));
}

}  // namespace

void lstm_recurrent_forward(Context& ctx, const Tensor& w_hh, const Tensor& bias, const Tensor& mask, bool reverse,
                            Tensor& gates, Tensor& h, Tensor& c, RecurrentAlgorithm algorithm) {
    const char* op = "lstm_recurrent_forward";
    require_context_device(op, ctx, gates);
    if (gates.dim() != 3 || gates.size(2) % 4 != 0 || (gates.dtype() != DType::f32 && gates.dtype() != DType::f64))
        throw Error(std::string(op) + ": gates must be f32 or f64 [T, B, 4H], got " + gates.describe());
    const int64_t steps = gates.size(0), batch = gates.size(1), hidden = gates.size(2) / 4;
    require_shape("w_hh", w_hh, {4 * hidden, hidden}, gates);
    require_shape("bias", bias, {4 * hidden}, gates);
    require_shape("mask", mask, {steps, batch}, gates);
    require_shape("h", h, {steps + 1, batch, hidden}, gates);
    require_shape("c", c, {steps + 1, batch, hidden}, gates);
    if (algorithm == RecurrentAlgorithm::persist_small_h) {
        if (!lstm_recurrent_algorithm_available(ctx, algorithm, gates.dtype(), batch, hidden))
            throw Error(std::string(op) + ": persist_small_h needs f32 on a CUDA device of compute capability 9.0 "
                        "or newer and hidden size <= 192; got " + gates.describe() + " on " +
                        device_name(ctx.device()));
#if SKIPPER_HAS_CUDA
        cuda::lstm_recurrent_forward_persistent(w_hh.data<float>(), bias.data<float>(), mask.data<float>(),
                                                gates.data<float>(), h.data<float>(), c.data<float>(), steps, batch,
                                                hidden, reverse, ctx.cuda_stream());
#endif
        return;
    }
    auto slot = [&](const Tensor& x, int64_t s, int64_t width) {
        return x.slice_rows(s, s + 1).reshape({batch, width});
    };
    for (int64_t s = 0; s < steps; ++s) {
        const int64_t t = reverse ? steps - 1 - s : s;
        const int64_t prev = reverse ? t + 1 : t, out = reverse ? t : t + 1;
        Tensor gates_t = slot(gates, t, 4 * hidden);
        const Tensor h_prev = slot(h, prev, hidden), c_prev = slot(c, prev, hidden);
        Tensor h_t = slot(h, out, hidden), c_t = slot(c, out, hidden);
        if (s > 0) matmul(ctx, h_prev, false, w_hh, true, gates_t, 1.0, 1.0);
        lstm_cell_forward(ctx, gates_t, bias, c_prev, h_prev, mask.slice_rows(t, t + 1).reshape({batch}), c_t, h_t);
    }
}

}  // namespace skipper::ops
