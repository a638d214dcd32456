#include <gtest/gtest.h>

#include "engine/allocator.h"
#include "engine/context.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/tensor.h"
#include "kernels/cpu/matmul.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

TEST(Tensor, ShapeDtypeAndAccess) {
    Tensor t = Tensor::zeros({2, 3, 4}, DType::f64);
    EXPECT_EQ(t.dim(), 3);
    EXPECT_EQ(t.numel(), 24);
    EXPECT_EQ(t.size(-1), 4);
    EXPECT_EQ(t.nbytes(), 24u * 8u);
    EXPECT_EQ(t.device(), Device::cpu);
    for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<double>()[i], 0.0);
    EXPECT_THROW(t.data<float>(), Error);
    EXPECT_THROW(t.size(3), Error);
    EXPECT_EQ(t.describe(), "f64[2, 3, 4]@cpu");
}

TEST(Tensor, EmptyShapesAreValid) {
    Tensor t = Tensor::empty({0, 5}, DType::f32);
    EXPECT_EQ(t.numel(), 0);
    EXPECT_TRUE(t.to_vector<float>().empty());
    EXPECT_THROW(Tensor::empty({-1}, DType::f32), Error);
}

TEST(Tensor, BorrowedHostMemoryIsViewedNotCopiedNorFreed) {
    std::vector<float> owner = {1, 2, 3, 4, 5, 6};
    {
        Tensor t = Tensor::view_host(owner.data(), {3, 2}, DType::f32);
        EXPECT_EQ(t.data<float>(), owner.data());
        EXPECT_EQ(t.slice_rows(1, 2).to_vector<float>(), (std::vector<float>{3, 4}));
        t.data<float>()[5] = 60;
        Tensor copy = t.clone();
        EXPECT_NE(copy.data<float>(), owner.data());
        EXPECT_EQ(copy.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 60}));
    }
    // The tensors are gone and the vector still owns (and frees) its memory.
    EXPECT_EQ(owner[5], 60.0f);
    EXPECT_THROW(Tensor::view_host(owner.data(), {-1}, DType::f32), Error);
}

TEST(Tensor, ReshapeAndSliceShareStorage) {
    Tensor t = Tensor::from_vector<int32_t>({0, 1, 2, 3, 4, 5}, {3, 2});
    Tensor rows = t.slice_rows(1, 3);
    EXPECT_EQ(rows.shape(), (Shape{2, 2}));
    EXPECT_EQ(rows.to_vector<int32_t>(), (std::vector<int32_t>{2, 3, 4, 5}));
    rows.data<int32_t>()[0] = 42;
    EXPECT_EQ(t.data<int32_t>()[2], 42);
    EXPECT_EQ(t.reshape({6}).shape(), (Shape{6}));
    EXPECT_THROW(t.reshape({4}), Error);
    EXPECT_THROW(t.slice_rows(2, 4), Error);
}

TEST(Tensor, CloneAndCopyAreDeep) {
    Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3});
    Tensor b = a.clone();
    b.data<float>()[0] = 9;
    EXPECT_EQ(a.data<float>()[0], 1);
    Tensor c = Tensor::zeros({3}, DType::f32);
    c.copy_from(a);
    EXPECT_EQ(c.to_vector<float>(), a.to_vector<float>());
    EXPECT_THROW(c.copy_from(Tensor::zeros({4}, DType::f32)), Error);
}

TEST(CachingAllocator, ReusesFreedBlocksOfTheSameSize) {
    CachingAllocator& host = allocator_for(Device::cpu);
    { Tensor warm = Tensor::empty({1000, 7}, DType::f32); }
    const AllocatorStats before = host.stats();
    for (int step = 0; step < 10; ++step) Tensor t = Tensor::empty({1000, 7}, DType::f32);
    const AllocatorStats after = host.stats();
    EXPECT_EQ(after.requests - before.requests, 10u);
    EXPECT_EQ(after.cache_hits - before.cache_hits, 10u);
}

TEST(CachingAllocator, SizeClassesBoundTheWaste) {
    for (size_t bytes : {1ul, 255ul, 256ul, 257ul, 1ul << 20, (1ul << 20) + 1, 3ul << 22, 123456789ul}) {
        const size_t size = allocation_size_class(bytes);
        EXPECT_GE(size, bytes);
        EXPECT_LE(size, bytes + bytes / 4 + 256) << bytes;
    }
}

TEST(CachingAllocator, AlignsHostBlocksForVectorLoads) {
    Tensor t = Tensor::empty({3}, DType::u8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
}

TEST(Blas, FastOpenBlasIsLinked) {
    // The reference BLAS is about 20x slower; DESIGN section 2 requires OpenBLAS.
    EXPECT_TRUE(cpu::blas_is_openblas()) << cpu::blas_config();
    EXPECT_NE(cpu::blas_config().find("USE_OPENMP"), std::string::npos)
        << "OpenBLAS should be its OpenMP build, sharing our thread pool: " << cpu::blas_config();
}

TEST(Context, ThreadCountIsApplied) {
    Context one(Device::cpu, 1);
    EXPECT_EQ(one.num_threads(), 1);
    EXPECT_EQ(num_threads(), 1);
    Context two(Device::cpu, 2);
    EXPECT_EQ(two.num_threads(), 2);
}

TEST(Context, DeviceChoiceParsingAndFallback) {
    EXPECT_EQ(parse_device_choice("cpu"), DeviceChoice::cpu);
    EXPECT_EQ(parse_device_choice("auto"), DeviceChoice::automatic);
    EXPECT_THROW(parse_device_choice("tpu"), ParamError);
    EXPECT_EQ(resolve_device(DeviceChoice::cpu), Device::cpu);
    // Without a GPU, automatic choice falls back to the CPU and an explicit
    // CUDA request is a clear error, not a crash.
    if (!cuda_available()) {
        EXPECT_EQ(resolve_device(DeviceChoice::automatic), Device::cpu);
        EXPECT_THROW(resolve_device(DeviceChoice::cuda), ParamError);
        EXPECT_THROW(Context(Device::cuda), Error);
    } else {
        EXPECT_EQ(resolve_device(DeviceChoice::automatic), Device::cuda);
    }
}

}  // namespace
}  // namespace skipper
