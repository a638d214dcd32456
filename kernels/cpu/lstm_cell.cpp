// GCC vectorises neither the clamps nor the float/int bit tricks of the
// exponential (fast_exp.h) while it must keep floating-point traps exact; nothing
// here reads the trap flags, so trapping math is off for this file.
#pragma GCC optimize("no-trapping-math")

#include "kernels/cpu/lstm_cell.h"

#include <cmath>
#include <type_traits>

#include "kernels/cpu/fast_exp.h"

namespace skipper::cpu {

namespace {

// Below this many cells per step a parallel region costs more than it saves.
constexpr int64_t kParallelCells = 1 << 14;

// Cephes's tanhf: a polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel),
// the exponential form elsewhere; branch-free so that it vectorises.
inline float tanh_f32(float x) {
    const float a = std::fabs(x);
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float near_zero = p * z * x + x;
    const float far = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
    return a < 0.625f ? near_zero : std::copysign(far, x);
}

template <class T> inline T sigmoid(T x) {
    if constexpr (std::is_same_v<T, float>) return 1.0f / (1.0f + exp_f32(-x));
    else return T(1) / (T(1) + std::exp(-x));
}

template <class T> inline T tanh_of(T x) {
    if constexpr (std::is_same_v<T, float>) return tanh_f32(x);
    else return std::tanh(x);
}

}  // namespace

template <class T>
void lstm_cell_forward(T* gates, const T* bias, const T* c_prev, const T* h_prev, const T* mask, T* c, T* h,
                       int64_t batch, int64_t hidden) {
    const int64_t width = 4 * hidden;
#pragma omp parallel for schedule(static) if (batch * hidden >= kParallelCells)
    for (int64_t r = 0; r < batch; ++r) {
        T* gi = gates + r * width;
        T* gf = gi + hidden;
        T* gg = gf + hidden;
        T* go = gg + hidden;
        const T m = mask[r];
        const T keep = T(1) - m;
        const T* cp = c_prev + r * hidden;
        const T* hp = h_prev + r * hidden;
        T* cr = c + r * hidden;
        T* hr = h + r * hidden;
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) {
            const T i = sigmoid(gi[j] + bias[j]);
            const T f = sigmoid(gf[j] + bias[hidden + j]);
            const T g = tanh_of(gg[j] + bias[2 * hidden + j]);
            const T o = sigmoid(go[j] + bias[3 * hidden + j]);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            const T c_new = f * cp[j] + i * g;
            const T h_new = o * tanh_of(c_new);
            // A padded step carries the state; the mask is 0 or 1, so this
            // blend is exact.
            cr[j] = m * c_new + keep * cp[j];
            hr[j] = m * h_new + keep * hp[j];
        }
    }
}

template <class T>
void lstm_cell_backward(const T* gates, const T* c_prev, const T* c, const T* mask, const T* dh, const T* dc,
                        T* dgates, T* dc_prev, T* dh_prev, int64_t batch, int64_t hidden) {
    const int64_t width = 4 * hidden;
#pragma omp parallel for schedule(static) if (batch * hidden >= kParallelCells)
    for (int64_t r = 0; r < batch; ++r) {
        const T* gi = gates + r * width;
        const T* gf = gi + hidden;
        const T* gg = gf + hidden;
        const T* go = gg + hidden;
        T* di = dgates + r * width;
        T* df = di + hidden;
        T* dg = df + hidden;
        T* dout = dg + hidden;
        const T m = mask[r];
        const T keep = T(1) - m;
        const T* cp = c_prev + r * hidden;
        const T* cr = c + r * hidden;
        const T* dhr = dh + r * hidden;
        const T* dcr = dc + r * hidden;
        T* dcp = dc_prev + r * hidden;
        T* dhp = dh_prev + r * hidden;
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) {
            const T i = gi[j], f = gf[j], g = gg[j], o = go[j];
            // On a real step c is the new cell state; on a padded one every
            // product below is multiplied by m = 0.
            const T tc = tanh_of(cr[j]);
            const T dh_step = m * dhr[j];
            const T dc_step = m * dcr[j] + dh_step * o * (T(1) - tc * tc);
            di[j] = dc_step * g * i * (T(1) - i);
            df[j] = dc_step * cp[j] * f * (T(1) - f);
            dg[j] = dc_step * i * (T(1) - g * g);
            dout[j] = dh_step * tc * o * (T(1) - o);
            const T carried_dc = keep * dcr[j];
            const T carried_dh = keep * dhr[j];
            dcp[j] = dc_step * f + carried_dc;
            dhp[j] = carried_dh;
        }
    }
}

template <class T> void add_bias(T* x, const T* bias, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        T* row = x + r * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
    }
}

#define SKIPPER_INSTANTIATE_LSTM_CELL(T)                                                                       \
    template void lstm_cell_forward<T>(T*, const T*, const T*, const T*, const T*, T*, T*, int64_t, int64_t);  \
    template void lstm_cell_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, \
                                        int64_t, int64_t);                                                      \
    template void add_bias<T>(T*, const T*, int64_t, int64_t);
SKIPPER_INSTANTIATE_LSTM_CELL(float)
SKIPPER_INSTANTIATE_LSTM_CELL(double)
#undef SKIPPER_INSTANTIATE_LSTM_CELL

}  // namespace skipper::cpu
