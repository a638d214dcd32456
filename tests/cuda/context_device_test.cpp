// Every op refuses a context whose device is not its tensors' device, with an
// error naming the op (engine/context.h, require_context_device). The check's
// logic runs on every machine; the ops themselves, with real CUDA tensors and
// contexts, only where a GPU is present.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

// Runs `call`, which must throw an Error whose message holds each of `words`.
void expect_error_naming(const std::function<void()>& call, const std::vector<std::string>& words) {
    try {
        call();
        ADD_FAILURE() << "no error; expected one naming " << words.front();
    } catch (const Error& e) {
        const std::string what = e.what();
        for (const auto& word : words) EXPECT_NE(what.find(word), std::string::npos) << what;
    }
}

TEST(ContextDevice, MismatchIsAnErrorNamingTheOpAndBothDevices) {
    EXPECT_NO_THROW(require_context_device("matmul", Device::cpu, Device::cpu));
    EXPECT_NO_THROW(require_context_device("matmul", Device::cuda, Device::cuda));
    expect_error_naming([] { require_context_device("matmul", Device::cpu, Device::cuda); },
                        {"matmul", "a cpu context", "tensors on cuda"});
    expect_error_naming([] { require_context_device("adam_step", Device::cuda, Device::cpu); },
                        {"adam_step", "a cuda context", "tensors on cpu"});
}

TEST(ContextDevice, CpuOpsAcceptTheirOwnContext) {
    Context cpu(Device::cpu, 1);
    Tensor x = Tensor::zeros({3, 2}, DType::f32), out = Tensor::zeros({2}, DType::f32);
    EXPECT_NO_THROW(ops::sum_rows(cpu, x, out));
    EXPECT_NO_THROW(ops::fill(cpu, x, 1.0));
}

// Each op once with a CPU context on CUDA tensors and once with a CUDA context
// on CPU tensors.
TEST(ContextDeviceCuda, EveryOpRefusesTheOtherDevicesContext) {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 1), gpu(Device::cuda);
    for (Device tensors : {Device::cuda, Device::cpu}) {
        Context& wrong = tensors == Device::cuda ? cpu : gpu;
        Tensor a = Tensor::zeros({4, 8}, DType::f32, tensors), b = Tensor::zeros({4, 8}, DType::f32, tensors);
        Tensor c = Tensor::zeros({4, 4}, DType::f32, tensors), row = Tensor::zeros({8}, DType::f32, tensors);
        Tensor mask = Tensor::zeros({4}, DType::f32, tensors), state = Tensor::zeros({4, 2}, DType::f32, tensors);
        const std::vector<std::pair<std::string, std::function<void()>>> calls = {
            {"matmul", [&] { ops::matmul(wrong, a, false, b, true, c); }},
            {"sigmoid_forward", [&] { ops::sigmoid_forward(wrong, a, b); }},
            {"add", [&] { ops::add(wrong, a, b, b); }},
            {"fill", [&] { ops::fill(wrong, a, 0.0); }},
            {"sum_rows", [&] { ops::sum_rows(wrong, a, row); }},
            {"add_bias", [&] { ops::add_bias(wrong, a, row); }},
            {"lstm_cell_forward", [&] { ops::lstm_cell_forward(wrong, a, row, state, state, mask, state, state); }},
            {"adam_step", [&] { ops::adam_step(wrong, a, b, b, b, ops::AdamOptions{}, 1); }},
        };
        for (const auto& [op, call] : calls)
            expect_error_naming(call, {op, std::string("a ") + device_name(wrong.device()) + " context"});
    }
}

}  // namespace
}  // namespace skipper
