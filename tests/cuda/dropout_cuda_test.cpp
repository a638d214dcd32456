// Inverted dropout on CUDA against its CPU twin through the engine API, f32
// and f64: the same mask from the same seed, bit for bit (the kept values are
// one product by the same scale). Device outputs are poisoned with NaN first.
// Skipped on a machine without a usable GPU.
#include <gtest/gtest.h>

#include "engine/lstm_ops.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

using test::host_values;
using test::poisoned_cuda;
using test::random_tensor;

template <class T> void check_dropout() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    uint64_t seed = 300;
    for (const Shape& shape : {Shape{1}, Shape{257, 3}, Shape{1000, 116}, Shape{0, 5}}) {
        for (double p : {0.0, 0.25, 0.6}) {
            const Tensor x = random_tensor<T>(shape, seed++);
            Tensor want = Tensor::empty(shape, dtype_of<T>());
            ops::dropout_forward(cpu, x, p, seed, want);
            Tensor got = poisoned_cuda(gpu, shape, dtype_of<T>());
            ops::dropout_forward(gpu, x.to(Device::cuda), p, seed, got);
            EXPECT_EQ(host_values<T>(got), host_values<T>(want)) << shape_string(shape) << " p=" << p;
            Tensor dx = poisoned_cuda(gpu, shape, dtype_of<T>());
            ops::dropout_backward(gpu, x.to(Device::cuda), p, seed, dx);
            EXPECT_EQ(host_values<T>(dx), host_values<T>(want)) << shape_string(shape) << " p=" << p;
        }
    }
}

// A rank's rows scattered over the global batch (DropoutSlice's row map, on
// each device's memory): the same mask on both.
template <class T> void check_scattered_rows() {
    SKIPPER_SKIP_WITHOUT_GPU();
    Context cpu(Device::cpu, 2), gpu(Device::cuda);
    const int64_t steps = 4, rows = 3, global = 9, width = 7;
    const Shape shape{steps * rows, width};
    const Tensor x = random_tensor<T>(shape, 17);
    const Tensor places = Tensor::from_vector<int32_t>({8, 2, 5}, {rows});
    const ops::DropoutSlice on_cpu{rows * width, global * width, 0, places, width};
    const ops::DropoutSlice on_gpu{rows * width, global * width, 0, places.to(Device::cuda), width};
    Tensor want = Tensor::empty(shape, dtype_of<T>());
    ops::dropout_forward(cpu, x, 0.4, 11, want, on_cpu);
    Tensor got = poisoned_cuda(gpu, shape, dtype_of<T>());
    ops::dropout_forward(gpu, x.to(Device::cuda), 0.4, 11, got, on_gpu);
    EXPECT_EQ(host_values<T>(got), host_values<T>(want));
}

TEST(DropoutCuda, MatchesCpuF32) { check_dropout<float>(); }
TEST(DropoutCuda, ScatteredRowsMatchCpuF32) { check_scattered_rows<float>(); }
TEST(DropoutCuda, ScatteredRowsMatchCpuF64) { check_scattered_rows<double>(); }
TEST(DropoutCuda, MatchesCpuF64) { check_dropout<double>(); }

}  // namespace
}  // namespace skipper
