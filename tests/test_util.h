// Helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/ops.h"
#include "engine/tensor.h"

namespace skipper::test {

// Skips a CUDA test on a machine without a usable GPU (CI, developer machines).
#define SKIPPER_SKIP_WITHOUT_GPU()                                              \
    do {                                                                        \
        if (!::skipper::cuda_available()) GTEST_SKIP() << "no usable GPU here"; \
    } while (0)

// A scratch file's path under GoogleTest's TempDir(), prefixed by the
// running test's name: ctest -j runs the tests of one program in parallel, and
// two of them writing one fixed name truncate each other's (mapped) files.
inline std::string scratch_path(const std::string& name) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string prefix = info == nullptr ? "" : std::string(info->test_suite_name()) + "." + info->name() + ".";
    std::replace(prefix.begin(), prefix.end(), '/', '_');
    return (std::filesystem::path(::testing::TempDir()) / (prefix + name)).string();
}

inline std::vector<double> random_values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<double> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// A host tensor of dtype T filled from random doubles (rounded to T).
template <class T> Tensor random_tensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
    const auto values = random_values(static_cast<size_t>(shape_numel(shape)), seed, lo, hi);
    std::vector<T> cast(values.begin(), values.end());
    return Tensor::from_vector<T>(cast, shape);
}

template <class T> std::vector<double> as_doubles(const Tensor& t) {
    const auto v = t.to_vector<T>();
    return std::vector<double>(v.begin(), v.end());
}

// Values of a tensor on any device, as doubles.
template <class T> std::vector<double> host_values(const Tensor& t) { return as_doubles<T>(t.to(Device::cpu)); }

// A CUDA tensor of `shape` whose every element is NaN (or the maximum for
// integers), so that an element a kernel fails to write fails the comparison.
inline Tensor poisoned_cuda(Context& ctx, const Shape& shape, DType dtype) {
    Tensor t = Tensor::empty(shape, dtype, Device::cuda);
    ops::fill(ctx, t, std::numeric_limits<double>::quiet_NaN());
    return t;
}

// max |a - b| / (atol + rtol * |b|) <= 1, elementwise; reports the worst index.
inline ::testing::AssertionResult all_close(const std::vector<double>& got, const std::vector<double>& want,
                                            double rtol, double atol) {
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
    for (size_t i = 0; i < got.size(); ++i) {
        if (!(std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i])))
            return ::testing::AssertionFailure() << "index " << i << ": got " << got[i] << ", want " << want[i];
    }
    return ::testing::AssertionSuccess();
}

}  // namespace skipper::test
