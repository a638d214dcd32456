#include "trainer/data_parallel.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "engine/collective.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/serialize.h"

namespace skipper {

RankShare rank_share(int64_t count) {
    const int64_t ranks = collective::size(), rank = collective::rank();
    const int64_t base = count / ranks, extra = count % ranks;
    const int64_t begin = rank * base + std::min(rank, extra);
    return {begin, begin + base + (rank < extra ? 1 : 0)};
}

RankShare rank_share_of_runs(std::span<const int32_t> group, int64_t count) {
    RankShare share = rank_share(count);
    if (group.empty()) return share;
    const auto cut = [&](int64_t at) {
        while (at > 0 && at < count && group[static_cast<size_t>(at)] == group[static_cast<size_t>(at - 1)]) ++at;
        return at;
    };
    return {cut(share.begin), cut(share.end)};
}

int64_t largest_rank_share(int64_t count) {
    const int64_t ranks = collective::size();
    return (count + ranks - 1) / ranks;
}

GlobalLoss sum_gradients(Context& ctx, Tensor& gradients, double loss, double weight) {
    if (collective::size() == 1) return {loss, weight};
    std::array<double, 2> sums = {loss * weight, weight};
    collective::allreduce_sum(std::span(sums));
    const double total = sums[1];
    // A rank whose part holds no weighted position contributes nothing (its
    // gradients are zero already); a batch with none anywhere leaves them at 0.
    if (total > 0.0) ops::scale(ctx, gradients, weight / total, gradients);
    collective::allreduce_sum(ctx, gradients);
    return {total > 0.0 ? sums[0] / total : 0.0, total};
}

void sum_histogram(Tensor& histogram) {
    if (collective::size() == 1) return;
    if (histogram.device() != Device::cpu) throw Error("sum_histogram: the GBDT's histograms live on the host");
    if (histogram.dtype() == DType::f64) {
        collective::allreduce_sum(std::span(histogram.data<double>(), static_cast<size_t>(histogram.numel())));
        return;
    }
    // Quantized: each bin is one 64-bit integer G * 2^32 + H; adding the
    // integers adds both fields (H stays below 2^32 by quantized_sum_bits).
    if (histogram.dtype() != DType::i32 || histogram.numel() % 2 != 0)
        throw Error("sum_histogram: not a GBDT histogram: " + histogram.describe());
    const auto bins = static_cast<size_t>(histogram.numel() / 2);
    collective::allreduce_sum(std::span(static_cast<int64_t*>(histogram.raw()), bins));
}

int64_t sum_count(int64_t count) {
    collective::allreduce_sum(std::span(&count, 1));
    return count;
}

namespace {

uint64_t mix(uint64_t hash, const void* data, size_t bytes) {
    return fnv1a64(static_cast<const uint8_t*>(data), bytes, hash);
}

uint64_t mix(uint64_t hash, const Tensor& t) {
    if (!t.defined()) return mix(hash, nullptr, 0);
    const Tensor host = t.device() == Device::cpu ? t : t.to(Device::cpu);
    return mix(hash, host.raw(), host.nbytes());
}

uint64_t mix(uint64_t hash, const std::vector<std::string>& names) {
    for (const auto& name : names) hash = mix(hash, name.data(), name.size() + 1);
    return hash;
}

}  // namespace

uint64_t fingerprint(const data::TabularDataset& data) {
    uint64_t hash = mix(kFnv1aOffset, data.feature_names);
    hash = mix(hash, data.features);
    return mix(hash, data.labels);
}

uint64_t fingerprint(const data::SequenceDataset& data) {
    uint64_t hash = mix(kFnv1aOffset, data.feature_names);
    hash = mix(hash, data.inputs);
    hash = mix(hash, data.labels);
    return mix(hash, data.predict_mask);
}

void require_same_on_every_rank(uint64_t value, const std::string& what) {
    std::vector<uint8_t> root(sizeof value);
    std::memcpy(root.data(), &value, sizeof value);
    collective::broadcast(root);
    uint64_t at_root = 0;
    std::memcpy(&at_root, root.data(), sizeof at_root);
    if (at_root != value)
        throw Error("rank " + std::to_string(collective::rank()) + " has different " + what +
                    " from rank 0: every rank of a job must read the same files (the same paths on every machine)");
}

}  // namespace skipper
