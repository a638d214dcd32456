// The LSTM cell's arithmetic for one (row, hidden unit), shared by the CUDA
// kernels (kernels/cuda/lstm_cell.cu) and host code, so that a test run on the
// CPU (tests/cuda/lstm_cell_math_test.cpp) checks the very code the GPU runs
// against a plain double-precision reference and finite differences.
// Semantics: engine/lstm_ops.h (gate order i, f, g, o; a padded step carries
// the state and passes the gradient through unchanged).
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define SKIPPER_HOST_DEVICE __host__ __device__
#else
#define SKIPPER_HOST_DEVICE
#endif

namespace skipper::lstm_math {

// The C functions, not std::, because nvcc declares these for host and device.
SKIPPER_HOST_DEVICE inline float exp_of(float x) { return expf(x); }
SKIPPER_HOST_DEVICE inline double exp_of(double x) { return exp(x); }
SKIPPER_HOST_DEVICE inline float tanh_of(float x) { return tanhf(x); }
SKIPPER_HOST_DEVICE inline double tanh_of(double x) { return tanh(x); }

// 1 / (1 + e^-x): for very negative x, e^-x overflows to inf and the result is
// exactly 0, never NaN.
template <class T> SKIPPER_HOST_DEVICE inline T sigmoid_of(T x) { return T(1) / (T(1) + exp_of(-x)); }

template <class T> struct CellForward {
    T i, f, g, o;  // gate activations, kept for the backward pass
    T c, h;        // the state after the step
};

// pre_*: the gate pre-activations with the bias already added.
template <class T>
SKIPPER_HOST_DEVICE inline CellForward<T> cell_forward(T pre_i, T pre_f, T pre_g, T pre_o, T c_prev, T h_prev,
                                                       bool real_step) {
    CellForward<T> out;
    out.i = sigmoid_of(pre_i);
    out.f = sigmoid_of(pre_f);
    out.g = tanh_of(pre_g);
    out.o = sigmoid_of(pre_o);
    if (real_step) {
        out.c = out.f * c_prev + out.i * out.g;
        out.h = out.o * tanh_of(out.c);
    } else {
        out.c = c_prev;
        out.h = h_prev;
    }
    return out;
}

template <class T> struct CellBackward {
    T di, df, dg, d_o;  // pre-activation gradients
    T dc_prev;          // gradient reaching c_{t-1}
    T dh_prev;          // the carried part of the gradient reaching h_{t-1}
};

// i, f, g, o: the activations saved by the forward pass; c: the cell state it
// produced; dh: the whole gradient reaching h_t; dc: the gradient reaching c_t
// from step t+1. tanh(c) is recomputed rather than stored: one special
// function is cheaper than another [B, H] tensor read per step.
template <class T>
SKIPPER_HOST_DEVICE inline CellBackward<T> cell_backward(T i, T f, T g, T o, T c_prev, T c, T dh, T dc,
                                                         bool real_step) {
    CellBackward<T> out;
    if (!real_step) {
        out.di = out.df = out.dg = out.d_o = T(0);
        out.dc_prev = dc;
        out.dh_prev = dh;
        return out;
    }
    const T tanh_c = tanh_of(c);
    const T dc_total = dc + dh * o * (T(1) - tanh_c * tanh_c);
    out.di = dc_total * g * i * (T(1) - i);
    out.df = dc_total * c_prev * f * (T(1) - f);
    out.dg = dc_total * i * (T(1) - g * g);
    out.d_o = dh * tanh_c * o * (T(1) - o);
    out.dc_prev = dc_total * f;
    out.dh_prev = T(0);
    return out;
}

}  // namespace skipper::lstm_math
