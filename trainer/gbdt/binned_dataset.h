// The GBDT's training input after binning: one byte per value, the fitted bin
// edges, labels, and a 64-bit key per row. Every per-row random choice
// (bagging, stochastic rounding of quantized gradients) is a counter-based
// hash of (seed, purpose, iteration, key), never a draw from a sequential
// generator, so a model does not depend on where its rows came from: one file,
// many files, a cache, or several processes each holding a share of the rows
// give the same model as long as each row keeps its key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/cpu/random.h"
#include "trainer/data/dataset.h"
#include "trainer/gbdt/binning.h"

namespace skipper::gbdt {

struct BinnedDataset {
    // The feature schema, as in data::TabularDataset.
    std::vector<std::string> feature_names;
    std::vector<bool> categorical;
    std::vector<std::vector<std::string>> category_names;
    // The fitted edges of every feature; bins holds indices into them.
    std::vector<FeatureBins> feature_bins;
    // u8 [rows, F], row-major. May be a view over memory this struct does not
    // own (an mmap'd cache file): nothing here writes to it.
    Tensor bins;
    Tensor labels;  // f32 [rows], 0 or 1
    // Optional, as in data::TabularDataset: the session and 1-based position of each row.
    std::vector<int32_t> session_index;
    std::vector<int32_t> position;
    // Per row: the key its random choices are drawn on. Empty: the row index.
    std::vector<uint64_t> row_keys;

    int64_t rows() const { return bins.defined() ? bins.size(0) : 0; }
    int64_t num_features() const { return static_cast<int64_t>(feature_names.size()); }
    uint64_t row_key(int64_t row) const {
        return row_keys.empty() ? static_cast<uint64_t>(row) : row_keys[static_cast<size_t>(row)];
    }
};

// Fits every feature's bins on a sample of rows: f32 [n, F] (NaN missing).
// A pure function of the sample's values: any order of the same rows gives
// the same edges. A categorical column holding codes at or beyond
// kMaxCategoryCode is an Error naming the feature.
std::vector<FeatureBins> fit_bins_on_sample(const Tensor& sample, const std::vector<std::string>& feature_names,
                                            const std::vector<bool>& categorical, int64_t max_bin);

// Bins `data` with `feature_bins` (fitted on this set or another); copies the
// schema, labels and session columns. Row keys stay empty (the row index).
BinnedDataset bin_dataset(const data::TabularDataset& data, std::vector<FeatureBins> feature_bins);

// Checks shapes, labels (0 or 1) and that every bin is in range for its
// feature; `role` ("training", "validation") starts the message of the Error.
void check_binned_dataset(const BinnedDataset& data, const char* role);

// What a per-row random draw is for: each purpose is its own stream.
enum class RowDraw : uint64_t { bagging = 1, gradient_rounding = 2 };

// The seed of one purpose's draws in one iteration (or bagging round); a
// row's draw is then counter_hash(row_draw_seed(...), row_key). Cheap per row:
// one hash, with this part computed once per iteration.
inline uint64_t row_draw_seed(uint64_t seed, RowDraw purpose, uint64_t iteration) {
    return counter_hash(counter_hash(seed, static_cast<uint64_t>(purpose)), iteration);
}

}  // namespace skipper::gbdt
