#include "engine/ops.h"

#include "engine/error.h"
#include "engine/serialize.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/random.h"
#include "kernels/cpu/reduce.h"

#if SKIPPER_HAS_CUDA
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/reduce.h"
#define SKIPPER_ON_CUDA(...) __VA_ARGS__
#else
#define SKIPPER_ON_CUDA(...) throw Error("this Skipper binary was built without CUDA")
#endif

// The message is built only when the check fails: these checks run on every
// op call, and building strings eagerly would dominate small ops.
#define SKIPPER_REQUIRE(condition, op, message)                                   \
    do {                                                                          \
        if (!(condition)) throw Error(std::string(op) + ": " + (message));        \
    } while (0)

namespace skipper::ops {

namespace {


void require_same_device(const char* op, const Tensor& a, const Tensor& b) {
    SKIPPER_REQUIRE(a.device() == b.device(), op, "tensors on different devices: " + a.describe() + " and " + b.describe());
}

void require_like(const char* op, const Tensor& a, const Tensor& b) {
    SKIPPER_REQUIRE(a.shape() == b.shape() && a.dtype() == b.dtype(), op, "mismatched tensors " + a.describe() + " and " + b.describe());
    require_same_device(op, a, b);
}

void require_float(const char* op, const Tensor& t) {
    SKIPPER_REQUIRE(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, "expected f32 or f64, got " + t.describe());
}

// Calls f(T{}) with T the C++ type of a floating-point dtype.
template <class F> void dispatch_float(DType dtype, F&& f) {
    if (dtype == DType::f32) f(float{});
    else f(double{});
}

// The shape of op(x) for a 2-D (or batched 3-D) operand.
struct MatrixShape {
    int64_t rows, cols, ld;
};
MatrixShape matrix_shape(const Tensor& t, bool transposed) {
    const int64_t r = t.size(-2), c = t.size(-1);
    return transposed ? MatrixShape{c, r, c} : MatrixShape{r, c, c};
}

}  // namespace

void matmul(Context& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, double alpha,
            double beta) {
    const char* op = "matmul";
    require_context_device(op, ctx, a);
    SKIPPER_REQUIRE(a.dim() == 2 && b.dim() == 2 && c.dim() == 2, op,
            "expected 2-D operands, got " + a.describe() + ", " + b.describe() + ", " + c.describe());
    require_float(op, a);
    SKIPPER_REQUIRE(a.dtype() == b.dtype() && a.dtype() == c.dtype(), op, "dtypes differ");
    require_same_device(op, a, b);
    require_same_device(op, a, c);
    const MatrixShape sa = matrix_shape(a, trans_a), sb = matrix_shape(b, trans_b);
    SKIPPER_REQUIRE(sa.cols == sb.rows && c.size(0) == sa.rows && c.size(1) == sb.cols, op,
            "shapes do not chain: " + a.describe() + (trans_a ? "^T" : "") + " @ " + b.describe() +
                (trans_b ? "^T" : "") + " -> " + c.describe());
    const int64_t m = sa.rows, n = sb.cols, k = sa.cols;
    dispatch_float(a.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (a.device() == Device::cpu) {
            cpu::matmul<T>(trans_a, trans_b, m, n, k, T(alpha), a.data<T>(), sa.ld, b.data<T>(), sb.ld, T(beta),
                           c.data<T>(), n);
        } else {
            SKIPPER_ON_CUDA(cuda::matmul<T>(ctx.cublas_handle(), ctx.tf32(), trans_a, trans_b, m, n, k, T(alpha),
                                            a.data<T>(), sa.ld, b.data<T>(), sb.ld, T(beta), c.data<T>(), n));
        }
    });
    }

void matmul_batched(Context& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                    double alpha, double beta) {
    const char* op = "matmul_batched";
    require_context_device(op, ctx, a);
    SKIPPER_REQUIRE(a.dim() == 3 && (b.dim() == 3 || b.dim() == 2) && c.dim() == 3, op,
            "expected a [batch, m, k], b [batch, k, n] or [k, n], c [batch, m, n]; got " + a.describe() + ", " +
                b.describe() + ", " + c.describe());
    require_float(op, a);
    SKIPPER_REQUIRE(a.dtype() == b.dtype() && a.dtype() == c.dtype(), op, "dtypes differ");
    require_same_device(op, a, b);
    require_same_device(op, a, c);
    const int64_t batch = a.size(0);
    SKIPPER_REQUIRE(c.size(0) == batch && (b.dim() == 2 || b.size(0) == batch), op, "batch sizes differ");
    const MatrixShape sa = matrix_shape(a, trans_a), sb = matrix_shape(b, trans_b);
    SKIPPER_REQUIRE(sa.cols == sb.rows && c.size(1) == sa.rows && c.size(2) == sb.cols, op, "shapes do not chain");
    const int64_t m = sa.rows, n = sb.cols, k = sa.cols;
    const int64_t stride_a = m * k, stride_b = b.dim() == 2 ? 0 : k * n, stride_c = m * n;
    dispatch_float(a.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (a.device() == Device::cpu) {
            cpu::matmul_batched<T>(trans_a, trans_b, m, n, k, T(alpha), a.data<T>(), sa.ld, stride_a, b.data<T>(),
                                   sb.ld, stride_b, T(beta), c.data<T>(), n, stride_c, batch);
        } else {
            SKIPPER_ON_CUDA(cuda::matmul_batched<T>(ctx.cublas_handle(), ctx.tf32(), trans_a, trans_b, m, n, k,
                                                    T(alpha), a.data<T>(), sa.ld, stride_a, b.data<T>(), sb.ld,
                                                    stride_b, T(beta), c.data<T>(), n, stride_c, batch));
        }
    });
    }

// Unary maps and their backward twins share one dispatcher.
#define SKIPPER_UNARY_OP(NAME)                                                                     \
    void NAME##_forward(Context& ctx, const Tensor& x, Tensor& y) {                                \
        require_context_device(#NAME "_forward", ctx, x);                                          \
        require_float(#NAME "_forward", x);                                                        \
        require_like(#NAME "_forward", x, y);                                                      \
        dispatch_float(x.dtype(), [&](auto zero) {                                                 \
            using T = decltype(zero);                                                              \
            if (x.device() == Device::cpu) cpu::NAME##_forward<T>(x.data<T>(), y.data<T>(), x.numel()); \
            else SKIPPER_ON_CUDA(cuda::NAME##_forward<T>(x.data<T>(), y.data<T>(), x.numel(), ctx.cuda_stream())); \
        });                                                                                        \
    }                                                                                              \
    void NAME##_backward(Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx) {            \
        require_context_device(#NAME "_backward", ctx, y);                                         \
        require_float(#NAME "_backward", y);                                                       \
        require_like(#NAME "_backward", y, dy);                                                    \
        require_like(#NAME "_backward", y, dx);                                                    \
        dispatch_float(y.dtype(), [&](auto zero) {                                                 \
            using T = decltype(zero);                                                              \
            if (y.device() == Device::cpu)                                                         \
                cpu::NAME##_backward<T>(y.data<T>(), dy.data<T>(), dx.data<T>(), y.numel());       \
            else                                                                                   \
                SKIPPER_ON_CUDA(cuda::NAME##_backward<T>(y.data<T>(), dy.data<T>(), dx.data<T>(), y.numel(), \
                                                         ctx.cuda_stream()));                      \
        });                                                                                        \
    }
SKIPPER_UNARY_OP(sigmoid)
SKIPPER_UNARY_OP(tanh)
#undef SKIPPER_UNARY_OP

void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
    require_context_device("add", ctx, a);
    require_float("add", a);
    require_like("add", a, b);
    require_like("add", a, out);
    dispatch_float(a.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (a.device() == Device::cpu) cpu::add<T>(a.data<T>(), b.data<T>(), out.data<T>(), a.numel());
        else SKIPPER_ON_CUDA(cuda::add<T>(a.data<T>(), b.data<T>(), out.data<T>(), a.numel(), ctx.cuda_stream()));
    });
    }

void scale(Context& ctx, const Tensor& x, double alpha, Tensor& out) {
    require_context_device("scale", ctx, x);
    require_float("scale", x);
    require_like("scale", x, out);
    dispatch_float(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) cpu::scale<T>(x.data<T>(), T(alpha), out.data<T>(), x.numel());
        else SKIPPER_ON_CUDA(cuda::scale<T>(x.data<T>(), T(alpha), out.data<T>(), x.numel(), ctx.cuda_stream()));
    });
    }

namespace {
// Calls f(T{}) for any dtype.
template <class F> void dispatch_any(DType dtype, F&& f) {
    switch (dtype) {
        case DType::f32: f(float{}); break;
        case DType::f64: f(double{}); break;
        case DType::i32: f(int32_t{}); break;
        case DType::u8: f(uint8_t{}); break;
    }
}
}  // namespace

void fill(Context& ctx, Tensor& x, double value) {
    require_context_device("fill", ctx, x);
    dispatch_any(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) cpu::fill<T>(x.data<T>(), static_cast<T>(value), x.numel());
        else SKIPPER_ON_CUDA(cuda::fill<T>(x.data<T>(), static_cast<T>(value), x.numel(), ctx.cuda_stream()));
    });
    }

double sum(Context& ctx, const Tensor& x) {
    require_context_device("sum", ctx, x);
    double total = 0.0;
    dispatch_any(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) total = cpu::sum<T>(x.data<T>(), x.numel());
        else SKIPPER_ON_CUDA(total = cuda::sum<T>(x.data<T>(), x.numel(), ctx.cuda_stream()));
    });
        return total;
}

void sum_rows(Context& ctx, const Tensor& x, Tensor& out) {
    require_context_device("sum_rows", ctx, x);
    require_float("sum_rows", x);
    SKIPPER_REQUIRE(x.dim() == 2 && out.dim() == 1 && out.size(0) == x.size(1) && out.dtype() == x.dtype(), "sum_rows",
            "expected x [M, N] and out [N], got " + x.describe() + " and " + out.describe());
    require_same_device("sum_rows", x, out);
    dispatch_float(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) cpu::sum_rows<T>(x.data<T>(), x.size(0), x.size(1), out.data<T>());
        else SKIPPER_ON_CUDA(cuda::sum_rows<T>(x.data<T>(), x.size(0), x.size(1), out.data<T>(), ctx.cuda_stream()));
    });
    }

void fill_uniform(Context& ctx, Tensor& x, double lo, double hi, uint64_t seed) {
    require_context_device("fill_uniform", ctx, x);
    require_float("fill_uniform", x);
    dispatch_float(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if (x.device() == Device::cpu) cpu::fill_uniform<T>(x.data<T>(), x.numel(), lo, hi, seed);
        else SKIPPER_ON_CUDA(cuda::fill_uniform<T>(x.data<T>(), x.numel(), lo, hi, seed, ctx.cuda_stream()));
    });
    }

int32_t key_hash(std::string_view key) {
    // FNV-1a alone leaves similar ids (t_1, t_2, ...) in nearby low bits;
    // counter_hash's finaliser spreads them over the whole word.
    const uint64_t fnv = fnv1a64(reinterpret_cast<const uint8_t*>(key.data()), key.size());
    return static_cast<int32_t>(counter_hash(fnv, 0) >> 33);
}

}  // namespace skipper::ops
