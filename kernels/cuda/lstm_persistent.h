// The persistent small-H recurrent kernel (f32, sm_90): one launch runs a whole
// direction's forward recurrence, W_hh held in the shared memory of a
// thread-block cluster (kernels/cuda/lstm_persistent_plan.h). Reached through
// ops::lstm_recurrent_forward with RecurrentAlgorithm::persist_small_h.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace skipper::cuda {

// True when the current device can run it for this batch and hidden size:
// compute capability 9.0 or newer (clusters, distributed shared memory),
// hidden <= 192, and the plan's shared memory and cluster size accepted by
// the driver.
bool lstm_persistent_supported(int64_t batch, int64_t hidden);

// gates [T, B, 4H] (in: input projections; out: activations), h and c
// [T+1, B, H] with the initial state in slot 0 (forward) or T (reverse),
// mask [T, B]. The semantics of ops::lstm_recurrent_forward.
void lstm_recurrent_forward_persistent(const float* w_hh, const float* bias, const float* mask, float* gates,
                                       float* h, float* c, int64_t steps, int64_t batch, int64_t hidden,
                                       bool reverse, CUstream_st* stream);

}  // namespace skipper::cuda
