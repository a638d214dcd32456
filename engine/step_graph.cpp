#include "engine/step_graph.h"

#include "engine/error.h"

namespace skipper {

CudaGraph StepGraph::capture(std::span<Context* const> contexts, const std::function<void()>& enqueue) {
    if (contexts.empty()) throw Error("StepGraph: no context to capture");
    for (const Context* ctx : contexts)
        if (ctx->device() != Device::cuda) throw Error("StepGraph: a CUDA graph captures CUDA contexts only");
    Context& origin = *contexts[0];
    return CudaGraph::capture(origin.cuda_stream(), [&] {
        // Fork: an event of the capturing origin pulls each other stream into
        // the capture. Join: the origin waits for each, which ends their part.
        for (Context* other : contexts.subspan(1)) other->wait_for(origin);
        enqueue();
        for (Context* other : contexts.subspan(1)) origin.wait_for(*other);
    });
}

StepGraph::StepGraph(std::span<Context* const> contexts, const std::function<void()>& enqueue)
    : contexts_(contexts.begin(), contexts.end()), graph_(capture(contexts, enqueue)), exec_(graph_) {}

void StepGraph::launch() {
    Context& origin = *contexts_[0];
    for (size_t i = 1; i < contexts_.size(); ++i) origin.wait_for(*contexts_[i]);
    exec_.launch(origin.cuda_stream());
    for (size_t i = 1; i < contexts_.size(); ++i) contexts_[i]->wait_for(origin);
}

}  // namespace skipper
