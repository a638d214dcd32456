#include "engine/gbdt_ops.h"

#include <string>

#include "engine/error.h"
#include "engine/histogram_ops.h"
#include "kernels/cpu/gbdt.h"

namespace skipper::ops {

namespace {

void require(bool condition, const char* op, const std::string& what) {
    if (!condition) throw Error(std::string(op) + ": " + what);
}

void require_vector(const char* op, const Tensor& t, DType dtype, int64_t n, const char* name) {
    require(t.defined() && t.dim() == 1 && t.dtype() == dtype && (n < 0 || t.size(0) == n), op,
            std::string("expected ") + dtype_name(dtype) + " " + name + " [" + (n < 0 ? "n" : std::to_string(n)) +
                "], got " + (t.defined() ? t.describe() : std::string("none")));
    // The CUDA twins have not been written yet; say so rather than misread device memory.
    require(t.device() == Device::cpu, op, std::string("no CUDA kernel yet for ") + name + " " + t.describe());
}

}  // namespace

GradientExtent logloss_gradients(Context& ctx, const Tensor& labels, const Tensor& scores, Tensor& gradients,
                                 Tensor& hessians) {
    const char* op = "logloss_gradients";
    require_vector(op, labels, DType::f32, -1, "labels");
    const int64_t rows = labels.numel();
    require_vector(op, scores, DType::f64, rows, "scores");
    require_vector(op, gradients, DType::f32, rows, "gradients");
    require_vector(op, hessians, DType::f32, rows, "hessians");
    GradientExtent out;
    cpu::logloss_gradients(labels.data<float>(), scores.data<double>(), gradients.data<float>(), hessians.data<float>(),
                           rows, &out.max_abs_gradient, &out.max_hessian);
    (void)ctx;
    return out;
}

GradientExtent gradient_extent(Context& ctx, const Tensor& gradients, const Tensor& hessians) {
    const char* op = "gradient_extent";
    require_vector(op, gradients, DType::f32, -1, "gradients");
    require_vector(op, hessians, DType::f32, gradients.numel(), "hessians");
    GradientExtent out;
    cpu::gradient_extent(gradients.data<float>(), hessians.data<float>(), gradients.numel(), &out.max_abs_gradient,
                         &out.max_hessian);
    (void)ctx;
    return out;
}

QuantScale quant_scale(const GradientExtent& global, int64_t quant_bins) {
    const auto bins = static_cast<double>(quant_bins);
    return {global.max_abs_gradient / (bins / 2.0), global.max_hessian / bins};
}

void quantize_gradients(Context& ctx, const Tensor& gradients, const Tensor& hessians,
                        std::span<const uint64_t> row_keys, uint64_t draw_seed, bool stochastic,
                        const QuantScale& scale, int64_t quant_bins, Tensor& quantized) {
    const char* op = "quantize_gradients";
    require_vector(op, gradients, DType::f32, -1, "gradients");
    const int64_t rows = gradients.numel();
    require_vector(op, hessians, DType::f32, rows, "hessians");
    require_vector(op, quantized, DType::i32, rows, "quantized");
    require(row_keys.empty() || static_cast<int64_t>(row_keys.size()) == rows, op,
            std::to_string(row_keys.size()) + " row keys for " + std::to_string(rows) + " rows");
    require(quant_bins >= 2 && quant_bins <= kMaxQuantBins, op,
            "quant_bins must be in [2, " + std::to_string(kMaxQuantBins) + "], got " + std::to_string(quant_bins));
    cpu::quantize_gradients(gradients.data<float>(), hessians.data<float>(), row_keys.empty() ? nullptr : row_keys.data(),
                            draw_seed, stochastic, scale.gradient, scale.hessian, quant_bins, rows,
                            quantized.data<int32_t>());
    (void)ctx;
}

LeafStatSums leaf_sums(Context& ctx, const Tensor& gradients, const Tensor& hessians, const Tensor& leaf_rows,
                       int64_t block_rows) {
    const char* op = "leaf_sums";
    require_vector(op, gradients, DType::f32, -1, "gradients");
    require_vector(op, hessians, DType::f32, gradients.numel(), "hessians");
    require_vector(op, leaf_rows, DType::i32, -1, "leaf_rows");
    require(block_rows > 0, op, "block_rows must be positive");
    LeafStatSums out;
    cpu::leaf_sums(gradients.data<float>(), hessians.data<float>(), leaf_rows.data<int32_t>(), leaf_rows.numel(),
                   block_rows, &out.gradients, &out.hessians);
    (void)ctx;
    return out;
}

void tree_add_scores(Context& ctx, const BinnedTree& tree, const Tensor& bins, const Tensor& skip, Tensor& scores) {
    const char* op = "tree_add_scores";
    require(bins.defined() && bins.dim() == 2 && bins.dtype() == DType::u8 && bins.device() == Device::cpu, op,
            "expected u8 bins [rows, features], got " + bins.describe());
    const int64_t rows = bins.size(0), features = bins.size(1);
    require_vector(op, tree.split_feature, DType::i32, -1, "split_feature");
    const int64_t nodes = tree.split_feature.numel();
    require_vector(op, tree.left_child, DType::i32, nodes, "left_child");
    require_vector(op, tree.right_child, DType::i32, nodes, "right_child");
    require_vector(op, tree.leaf_value, DType::f64, nodes + 1, "leaf_value");
    require(tree.goes_left.defined() && tree.goes_left.dtype() == DType::u8 && tree.goes_left.numel() == nodes * 256 &&
                tree.goes_left.device() == Device::cpu,
            op, "expected u8 goes_left [" + std::to_string(nodes) + ", 256], got " + tree.goes_left.describe());
    // Walking the tree follows these links: check them once here (children
    // always come after their parent, so every walk ends).
    const int32_t* feature = tree.split_feature.data<int32_t>();
    const int32_t* left = tree.left_child.data<int32_t>();
    const int32_t* right = tree.right_child.data<int32_t>();
    for (int64_t n = 0; n < nodes; ++n) {
        require(feature[n] >= 0 && feature[n] < features, op, "node " + std::to_string(n) + " splits a missing feature");
        for (const int32_t child : {left[n], right[n]})
            require(child < 0 ? ~child <= nodes : child > n && child < nodes, op,
                    "node " + std::to_string(n) + " has a bad child " + std::to_string(child));
    }
    if (skip.defined()) require_vector(op, skip, DType::u8, rows, "skip");
    require_vector(op, scores, DType::f64, rows, "scores");
    cpu::BinnedTreeView view;
    view.nodes = nodes;
    view.split_feature = feature;
    view.goes_left = tree.goes_left.data<uint8_t>();
    view.left_child = left;
    view.right_child = right;
    view.leaf_value = tree.leaf_value.data<double>();
    cpu::tree_add_scores(view, bins.data<uint8_t>(), features, rows, skip.defined() ? skip.data<uint8_t>() : nullptr,
                         scores.data<double>());
    (void)ctx;
}

void leaf_add_scores(Context& ctx, const Tensor& partition, std::span<const int64_t> leaf_begin,
                     std::span<const int64_t> leaf_count, const Tensor& leaf_value, Tensor& scores) {
    const char* op = "leaf_add_scores";
    require_vector(op, partition, DType::i32, -1, "partition");
    require_vector(op, scores, DType::f64, -1, "scores");
    const auto leaves = static_cast<int64_t>(leaf_begin.size());
    require_vector(op, leaf_value, DType::f64, leaves, "leaf_value");
    require(leaf_count.size() == leaf_begin.size(), op, "one count per leaf begin");
    for (int64_t l = 0; l < leaves; ++l) {
        const auto i = static_cast<size_t>(l);
        require(leaf_begin[i] >= 0 && leaf_count[i] >= 0 && leaf_begin[i] + leaf_count[i] <= partition.numel(), op,
                "leaf " + std::to_string(l) + " lies outside the partition");
    }
    // The row-order pass needs every score row in some leaf (the partition's
    // rows are distinct) and leaf ids that fit a byte.
    int64_t covered = 0;
    for (const int64_t c : leaf_count) covered += c;
    Tensor leaf_of;
    if (covered == scores.numel() && leaves <= 256) leaf_of = Tensor::empty({scores.numel()}, DType::u8);
    cpu::leaf_add_scores(partition.data<int32_t>(), leaf_begin.data(), leaf_count.data(), leaf_value.data<double>(),
                         leaves, scores.data<double>(), scores.numel(),
                         leaf_of.defined() ? leaf_of.data<uint8_t>() : nullptr);
    (void)ctx;
}

}  // namespace skipper::ops
