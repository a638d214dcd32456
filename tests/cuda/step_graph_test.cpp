// The CUDA graph of a step (engine/step_graph.h) and the double-buffered batch
// upload (engine/batch_upload.h). Where a GPU is present: a graph captured
// over two contexts replays the same values as the ops run eagerly, step after
// step, with its inputs changed between launches through an upload; uploads
// whose sources are overwritten right after the call still deliver each
// batch. Everywhere: the CPU path of the uploader, and the errors.
#include <gtest/gtest.h>

#include <vector>

#include "engine/batch_upload.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/step_graph.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::host_values;
using test::random_tensor;

TEST(BatchUploader, CopiesOnTheCpuAndRefusesMismatchedTensors) {
    Context cpu(Device::cpu, 1);
    BatchUploader uploader(cpu);
    std::vector<Tensor> sources = {random_tensor<float>({3, 4}, 1), random_tensor<double>({5}, 2)};
    std::vector<Tensor> targets = {Tensor::zeros({3, 4}, DType::f32), Tensor::zeros({5}, DType::f64)};
    uploader.upload(sources, targets);
    EXPECT_EQ(targets[0].to_vector<float>(), sources[0].to_vector<float>());
    EXPECT_EQ(targets[1].to_vector<double>(), sources[1].to_vector<double>());
    EXPECT_EQ(uploader.uploads(), 1);
    std::vector<Tensor> wrong = {Tensor::zeros({4, 3}, DType::f32), Tensor::zeros({5}, DType::f64)};
    EXPECT_THROW(uploader.upload(sources, wrong), Error);
    EXPECT_THROW(uploader.upload(std::span(sources).first(1), targets), Error);
}

TEST(StepGraph, RefusesCpuContexts) {
    Context cpu(Device::cpu, 1);
    Context* contexts[] = {&cpu};
    EXPECT_THROW(StepGraph(contexts, [] {}), Error);
}

// y = sigmoid(x @ w^T) on context a, z = tanh(x) on context b, then
// out = y + z on a after joining b: two streams forked and joined inside.
struct TwoStreamStep {
    Context a{Device::cuda}, b{Device::cuda};
    Tensor x, w, y, z, out, row_sums;
    TwoStreamStep() {
        x = Tensor::zeros({67, 29}, DType::f32, a);
        w = random_tensor<float>({29, 29}, 3).to(Device::cuda);
        y = Tensor::zeros({67, 29}, DType::f32, a);
        z = Tensor::zeros({67, 29}, DType::f32, b);
        out = Tensor::zeros({67, 29}, DType::f32, a);
        row_sums = Tensor::zeros({29}, DType::f32, a);
    }
    void enqueue() {
        b.wait_for(a);
        ops::matmul(a, x, false, w, true, y);
        ops::sigmoid_forward(a, y, y);
        ops::tanh_forward(b, x, z);
        a.wait_for(b);
        ops::add(a, y, z, out);
        ops::sum_rows(a, out, row_sums);
    }
};

TEST(StepGraphCuda, ReplaysTheEagerResultsWithNewInputsEachStep) {
    SKIPPER_SKIP_WITHOUT_GPU();
    TwoStreamStep eager, graphed;
    Context* contexts[] = {&graphed.a, &graphed.b};
    StepGraph graph(contexts, [&] { graphed.enqueue(); });
    EXPECT_GT(graph.num_nodes(), 5u);
    BatchUploader eager_upload(eager.a), graph_upload(graphed.a);
    for (int step = 0; step < 5; ++step) {
        std::vector<Tensor> batch = {random_tensor<float>({67, 29}, 100 + static_cast<uint64_t>(step))};
        std::vector<Tensor> eager_x = {eager.x}, graph_x = {graphed.x};
        eager_upload.upload(batch, eager_x);
        graph_upload.upload(batch, graph_x);
        eager.enqueue();
        graph.launch();
        // Identical kernels on identical inputs: identical bits.
        EXPECT_EQ(host_values<float>(graphed.out), host_values<float>(eager.out)) << "step " << step;
        EXPECT_EQ(host_values<float>(graphed.row_sums), host_values<float>(eager.row_sums)) << "step " << step;
    }
}

// The sources are overwritten right after each call, and the two slots
// alternate: every upload must still deliver its own values.
TEST(BatchUploaderCuda, DeliversEveryBatchWhileTheHostReusesItsBuffers) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context ctx(Device::cuda);
    BatchUploader uploader(ctx);
    Tensor source = Tensor::zeros({1000, 65}, DType::f32);
    std::vector<Tensor> targets = {Tensor::zeros({1000, 65}, DType::f32, ctx)};
    Tensor sums = Tensor::zeros({65}, DType::f32, ctx);
    std::vector<std::vector<double>> got;
    for (int k = 0; k < 6; ++k) {
        ops::fill(ctx, sums, 0.0);
        Context host(Device::cpu, 1);
        ops::fill(host, source, static_cast<double>(k + 1));
        uploader.upload(std::span<const Tensor>(&source, 1), targets);
        ops::fill(host, source, -1.0);  // the host reuses its buffer at once
        ops::sum_rows(ctx, targets[0], sums);
        got.push_back(host_values<float>(sums));
    }
    for (int k = 0; k < 6; ++k)
        for (double v : got[static_cast<size_t>(k)]) EXPECT_EQ(v, 1000.0 * (k + 1)) << "upload " << k;
}

TEST(TensorCuda, ZerosIsZeroOnReusedMemoryOnEitherPath) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context ctx(Device::cuda);
    for (int round = 0; round < 3; ++round) {
        { Tensor dirty = test::poisoned_cuda(ctx, {517, 3}, DType::f32); }
        Tensor plain = Tensor::zeros({517, 3}, DType::f32, Device::cuda);
        EXPECT_EQ(host_values<float>(plain), std::vector<double>(517 * 3, 0.0));
        { Tensor dirty = test::poisoned_cuda(ctx, {517, 3}, DType::f32); }
        Tensor on_stream = Tensor::zeros({517, 3}, DType::f32, ctx);
        EXPECT_EQ(host_values<float>(on_stream), std::vector<double>(517 * 3, 0.0));
    }
}

}  // namespace
}  // namespace skipper
