#include "engine/histogram_ops.h"

#include <cstdint>
#include <initializer_list>

#include "engine/error.h"
#include "kernels/cpu/histogram.h"

namespace skipper::ops {

namespace {

// The message is built only on failure: these checks run for every leaf.
template <class Message>
void require(bool condition, const char* op, Message&& what) {
    if (!condition) throw Error(std::string(op) + ": " + what());
}

void require_cpu(const char* op, const Tensor& t) {
    // The CUDA twin has not been written yet; say so rather than misread device memory.
    require(t.device() == Device::cpu, op, [&] { return "no CUDA kernel yet for " + t.describe(); });
}

}  // namespace

void histogram_build(Context& ctx, const Tensor& bins, const Tensor& feature_offsets, const Tensor& gradients,
                     const Tensor& hessians, const Tensor& row_indices, Tensor& histogram) {
    const char* op = "histogram_build";
    require(bins.dim() == 2 && bins.dtype() == DType::u8, op,
            [&] { return "expected u8 bins [rows, features], got " + bins.describe(); });
    const int64_t rows = bins.size(0), features = bins.size(1);
    require(
        feature_offsets.dim() == 1 && feature_offsets.dtype() == DType::i32 && feature_offsets.size(0) == features + 1,
        op, [&] {
            return "expected i32 feature_offsets [" + std::to_string(features + 1) + "], got " +
                   feature_offsets.describe();
        });
    require(gradients.dim() == 1 && gradients.dtype() == DType::f32 && gradients.size(0) == rows, op,
            [&] { return "expected f32 gradients [" + std::to_string(rows) + "], got " + gradients.describe(); });
    require(hessians.dim() == 1 && hessians.dtype() == DType::f32 && hessians.size(0) == rows, op,
            [&] { return "expected f32 hessians [" + std::to_string(rows) + "], got " + hessians.describe(); });
    const bool indexed = row_indices.defined();
    require(!indexed || (row_indices.dim() == 1 && row_indices.dtype() == DType::i32), op,
            [&] { return "expected i32 row_indices [n], got " + row_indices.describe(); });
    for (const Tensor* t :
         std::initializer_list<const Tensor*>{&bins, &feature_offsets, &gradients, &hessians, &histogram})
        require_cpu(op, *t);
    if (indexed) require_cpu(op, row_indices);
    // feature_offsets live on the host whenever the kernel does.
    const int32_t* offsets = feature_offsets.data<int32_t>();
    const int64_t total_bins = offsets[features];
    require(histogram.dim() == 2 && histogram.dtype() == DType::f64 && histogram.size(0) == total_bins &&
                histogram.size(1) == cpu::kHistogramStats,
            op, [&] {
                return "expected f64 histogram [" + std::to_string(total_bins) + ", 4], got " + histogram.describe();
            });
    require(reinterpret_cast<uintptr_t>(histogram.raw()) % 32 == 0, op,
            [&] { return "the histogram must be 32-byte aligned"; });
    const int64_t n = indexed ? row_indices.size(0) : rows;
    Tensor scratch = Tensor::empty({cpu::histogram_scratch_size(n, total_bins)}, DType::f64);
    cpu::histogram_build(bins.data<uint8_t>(), features, offsets, total_bins, gradients.data<float>(),
                         hessians.data<float>(), indexed ? row_indices.data<int32_t>() : nullptr, n,
                         histogram.data<double>(), scratch.data<double>());
    (void)ctx;
}

void histogram_subtract(Context& ctx, const Tensor& parent, const Tensor& child, Tensor& out) {
    const char* op = "histogram_subtract";
    require(parent.dim() == 2 && parent.dtype() == DType::f64 && parent.size(1) == cpu::kHistogramStats, op,
            [&] { return "expected f64 histogram [bins, 4], got " + parent.describe(); });
    require(child.shape() == parent.shape() && child.dtype() == DType::f64 && out.shape() == parent.shape() &&
                out.dtype() == DType::f64,
            op, [&] {
                return "mismatched histograms " + parent.describe() + ", " + child.describe() + ", " + out.describe();
            });
    for (const Tensor* t : std::initializer_list<const Tensor*>{&parent, &child, &out}) require_cpu(op, *t);
    cpu::histogram_subtract(parent.data<double>(), child.data<double>(), out.data<double>(), parent.size(0));
    (void)ctx;
}

}  // namespace skipper::ops
