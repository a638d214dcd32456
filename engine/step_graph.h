// A fixed sequence of ops (a training step) captured once as a CUDA graph and
// replayed with one launch, instead of one host call per kernel: a Bi-LSTM
// training step queues about 430 launches, whose host cost (3 to 5 us each)
// bounds the step at B = 1000 (bench/RESULTS.md, issue 6).
//
// The captured work must be the same at every replay: the same kernels on the
// same addresses. So the tensors it touches are allocated before the capture
// and live as long as the graph; values that change per step (the batch, the
// optimizer's step count) go through device memory that the graph reads, or
// stay outside the graph. No op inside may synchronise the host (a capture
// turns such a call into an error rather than a silent wait).
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "engine/context.h"
#include "engine/cuda_device.h"

namespace skipper {

class StepGraph {
public:
    // Captures the work `enqueue` queues on `contexts` (CUDA contexts;
    // contexts[0] is the origin, whose stream the graph is launched on). The
    // others fork from the origin when the capture begins and join it when
    // `enqueue` returns, so `enqueue` uses them as it would outside a capture.
    StepGraph(std::span<Context* const> contexts, const std::function<void()>& enqueue);

    // Replays the captured work after everything queued so far on every
    // context, and before anything queued on them later. The host does not wait.
    void launch();
    size_t num_nodes() const { return graph_.num_nodes(); }

private:
    static CudaGraph capture(std::span<Context* const> contexts, const std::function<void()>& enqueue);

    std::vector<Context*> contexts_;
    CudaGraph graph_;
    CudaGraphExec exec_;
};

}  // namespace skipper
