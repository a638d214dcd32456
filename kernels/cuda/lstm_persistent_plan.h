// The persistent small-H recurrent kernel (kernels/cuda/lstm_persistent.cu):
// its work split and the per-element arithmetic, as __host__ __device__ code,
// so that tests/cuda/lstm_persistent_plan_test.cpp runs the very functions the
// kernel runs, in the kernel's order, on the CPU (against the standard op), and
// checks the split's shared-memory budget for every H up to kMaxHidden.
//
// The split (after cuDNN's PERSIST_STATIC_SMALL_H):
// - one thread-block cluster (sm_90) takes a tile of `rows` batch rows through
//   all T steps of one direction; the clusters never talk to each other;
// - the cluster's `cluster` blocks split the hidden units: block r owns units
//   [r*units, (r+1)*units) and keeps their four gates' rows of W_hh in shared
//   memory for the whole launch, laid out [k][gate][unit] so that a warp's
//   threads (adjacent units) read adjacent words;
// - per step each block computes its units' gates for the tile rows
//   (gates_t + h_{t-1} W_hh^T + bias, the product from shared memory), runs the
//   cell, and pushes its slice of h_t into every block's next-h buffer through
//   distributed shared memory; one cluster barrier per step publishes it.
#pragma once

#include <stdint.h>

#include "kernels/cuda/lstm_cell_math.h"

namespace skipper::lstm_persistent {

constexpr int64_t kMaxHidden = 192;
constexpr int kThreads = 256;
constexpr int64_t kMaxRows = 32;           // batch rows per cluster
constexpr int64_t kMaxClusterBlocks = 8;   // the portable cluster size limit
// Shared memory a block may use: sm_90 allows 227 KiB per block; keep a margin.
constexpr int64_t kSharedBudget = 200 * 1024;

struct Plan {
    int64_t cluster = 0;  // blocks per cluster
    int64_t units = 0;    // hidden units per block (the last block may own fewer)
    int64_t rows = 0;     // batch rows per cluster
    int64_t clusters = 0;
    int64_t shared_bytes = 0;
    bool ok = false;
};

// Floats of shared memory one block needs: its W_hh slice [H][4][units], the
// full h of its rows twice (current and next step) and c of its units.
SKIPPER_HOST_DEVICE inline int64_t shared_floats(int64_t hidden, int64_t units, int64_t rows) {
    return hidden * 4 * units + 2 * rows * hidden + rows * units;
}

// The smallest cluster whose blocks' shared memory fits, and enough rows per
// cluster that the blocks fill the device's `sms` multiprocessors once.
inline Plan make_plan(int64_t batch, int64_t hidden, int64_t sms) {
    Plan plan;
    if (batch < 1 || hidden < 1 || hidden > kMaxHidden || sms < 1) return plan;
    for (int64_t cluster = 1; cluster <= kMaxClusterBlocks; cluster *= 2) {
        const int64_t units = (hidden + cluster - 1) / cluster;
        const int64_t wanted_rows = (batch * cluster + sms - 1) / sms;
        const int64_t rows = wanted_rows < 1 ? 1 : (wanted_rows > kMaxRows ? kMaxRows : wanted_rows);
        const int64_t bytes = shared_floats(hidden, units, rows) * 4;
        if (bytes <= kSharedBudget) {
            plan.cluster = cluster;
            plan.units = units;
            plan.rows = rows;
            plan.clusters = (batch + rows - 1) / rows;
            plan.shared_bytes = bytes;
            plan.ok = true;
            return plan;
        }
    }
    return plan;
}

// Element `idx` of block `rank`'s weight slice w_s [hidden][4][units], from
// w_hh [4H, H] row-major; zero past the last unit.
SKIPPER_HOST_DEVICE inline float weight_slice_element(const float* w_hh, int64_t hidden, int64_t units, int64_t rank,
                                                      int64_t idx) {
    const int64_t unit = idx % units, gate = (idx / units) % 4, k = idx / (4 * units);
    const int64_t j = rank * units + unit;
    return j < hidden ? w_hh[(gate * hidden + j) * hidden + k] : 0.0f;
}

// The time index of processing step s, and the h/c slots ([T+1, B, H]) it
// reads and writes: forward t = s reads slot t, writes t + 1; reverse
// t = T-1-s reads slot t + 1, writes t.
SKIPPER_HOST_DEVICE inline int64_t time_of(int64_t s, int64_t steps, bool reverse) {
    return reverse ? steps - 1 - s : s;
}
SKIPPER_HOST_DEVICE inline int64_t prev_slot(int64_t t, bool reverse) { return reverse ? t + 1 : t; }
SKIPPER_HOST_DEVICE inline int64_t out_slot(int64_t t, bool reverse) { return reverse ? t : t + 1; }

// Rows per thread: a thread computes one unit's four gates for this many rows,
// so each weight it loads from shared memory serves that many rows (4 + R
// loads per 4R multiply-adds; the h loads are broadcasts across the warp).
constexpr int64_t kRowsPerThread = 4;

// One thread's work in one step, as the kernel runs it: unit `unit` of block
// `rank` for tile rows [row0, row0 + count), count <= kRowsPerThread.
// h_rows [rows][H]: h_{t-1} of the tile's rows; c_units [rows][units]: this
// block's c_{t-1}, updated in place; with_product: false at the first step
// (the zero state needs no product). Writes the gate activations into gates,
// c_t and h_t into their slots, and h_t of each row into h_out for the
// exchange.
struct StepArgs {
    const float* w_s;
    const float* bias;
    const float* mask;  // [T, B]
    float* gates;       // [T, B, 4H]
    float* h;           // [T+1, B, H]
    float* c;           // [T+1, B, H]
    int64_t batch, hidden, units, rank, first_row;
    int64_t t;
    bool reverse, with_product;
};

SKIPPER_HOST_DEVICE inline void thread_step(const StepArgs& a, const float* h_rows, float* c_units, int64_t row0,
                                            int64_t count, int64_t unit, float* h_out) {
    const int64_t j = a.rank * a.units + unit, hidden = a.hidden;
    float acc[kRowsPerThread][4] = {};
    if (a.with_product) {
        for (int64_t k = 0; k < hidden; ++k) {
            const float* w = a.w_s + k * 4 * a.units + unit;
            const float w0 = w[0], w1 = w[a.units], w2 = w[2 * a.units], w3 = w[3 * a.units];
            for (int64_t r = 0; r < kRowsPerThread; ++r) {
                if (r >= count) break;
                const float hk = h_rows[(row0 + r) * hidden + k];
                acc[r][0] += hk * w0;
                acc[r][1] += hk * w1;
                acc[r][2] += hk * w2;
                acc[r][3] += hk * w3;
            }
        }
    }
    for (int64_t r = 0; r < count; ++r) {
        const int64_t row = row0 + r, b = a.first_row + row;
        float* gate_row = a.gates + (a.t * a.batch + b) * 4 * hidden;
        float pre[4];
        for (int g = 0; g < 4; ++g) pre[g] = (gate_row[g * hidden + j] + acc[r][g]) + a.bias[g * hidden + j];
        float& c_prev = c_units[row * a.units + unit];
        const float h_prev = h_rows[row * hidden + j];
        const auto out = lstm_math::cell_forward<float>(pre[0], pre[1], pre[2], pre[3], c_prev, h_prev,
                                                        a.mask[a.t * a.batch + b] != 0.0f);
        gate_row[j] = out.i;
        gate_row[hidden + j] = out.f;
        gate_row[2 * hidden + j] = out.g;
        gate_row[3 * hidden + j] = out.o;
        const int64_t slot = out_slot(a.t, a.reverse) * a.batch + b;
        a.c[slot * hidden + j] = out.c;
        a.h[slot * hidden + j] = out.h;
        c_prev = out.c;
        h_out[r] = out.h;
    }
}

}  // namespace skipper::lstm_persistent
