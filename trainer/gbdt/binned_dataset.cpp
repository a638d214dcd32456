#include "trainer/gbdt/binned_dataset.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace skipper::gbdt {

BinnedDataset bin_dataset(const data::TabularDataset& data, std::vector<FeatureBins> feature_bins) {
    if (static_cast<int64_t>(feature_bins.size()) != data.num_features())
        throw Error("bin_dataset: " + std::to_string(feature_bins.size()) + " fitted features for a set of " +
                    std::to_string(data.num_features()));
    BinnedDataset out;
    out.feature_names = data.feature_names;
    out.categorical = data.categorical;
    out.category_names = data.category_names;
    out.category_names.resize(data.feature_names.size());
    out.bins = bin_rows(data.features, feature_bins);
    out.feature_bins = std::move(feature_bins);
    out.labels = data.labels;
    out.session_index = data.session_index;
    out.position = data.position;
    return out;
}

void check_binned_dataset(const BinnedDataset& data, const char* role) {
    auto fail = [&](const std::string& what) { throw Error("train_gbdt: " + std::string(role) + " " + what); };
    const Tensor& b = data.bins;
    if (!b.defined() || b.dim() != 2 || b.dtype() != DType::u8 || b.device() != Device::cpu)
        fail("bins must be a u8 host matrix [rows, features], got " + (b.defined() ? b.describe() : std::string("none")));
    const int64_t rows = b.size(0), features = b.size(1);
    if (rows <= 0) fail("set has no rows");
    if (features <= 0) fail("set has no features");
    const auto count = [](const auto& v) { return std::to_string(v.size()); };
    if (static_cast<int64_t>(data.feature_names.size()) != features)
        fail("set has " + std::to_string(features) + " bin columns but " + count(data.feature_names) + " feature names");
    if (static_cast<int64_t>(data.categorical.size()) != features)
        fail("set has " + count(data.categorical) + " categorical flags for " + std::to_string(features) + " features");
    if (static_cast<int64_t>(data.feature_bins.size()) != features)
        fail("set has " + count(data.feature_bins) + " fitted features for " + std::to_string(features) + " features");
    for (int64_t f = 0; f < features; ++f)
        if (data.feature_bins[static_cast<size_t>(f)].categorical != data.categorical[static_cast<size_t>(f)])
            fail("feature '" + data.feature_names[static_cast<size_t>(f)] + "' has bins of the other kind");
    if (!data.row_keys.empty() && static_cast<int64_t>(data.row_keys.size()) != rows)
        fail("set has " + count(data.row_keys) + " row keys for " + std::to_string(rows) + " rows");
    const Tensor& y = data.labels;
    if (!y.defined() || y.dtype() != DType::f32 || y.numel() != rows || y.device() != Device::cpu)
        fail("labels must be f32 [" + std::to_string(rows) + "]");
    // Every label and bin is looked at (this runs once per training, on
    // every row), so the scans are flat loops that vectorise: a flag per
    // block, and the first culprit looked for only when one is raised.
    const float* labels = y.data<float>();
    uint8_t bad_label = 0;  // a byte, not a bool: GCC 12 vectorises the byte OR only
    for (int64_t r = 0; r < rows; ++r) bad_label |= static_cast<uint8_t>(labels[r] != 0.0f && labels[r] != 1.0f);
    if (bad_label)
        for (int64_t r = 0; r < rows; ++r)
            if (labels[r] != 0.0f && labels[r] != 1.0f)
                fail("label at row " + std::to_string(r) + " is " + std::to_string(labels[r]) + ", expected 0 or 1");
    // Bins index histograms: one out of range would write outside them. The
    // limits are laid out as kTileRows rows of bins, so that a tile of rows
    // compares against them byte for byte.
    constexpr int64_t kTileRows = 64;
    std::vector<uint8_t> limit(static_cast<size_t>(kTileRows * features));
    for (int64_t r = 0; r < kTileRows; ++r)
        for (int64_t f = 0; f < features; ++f)
            limit[static_cast<size_t>(r * features + f)] =
                static_cast<uint8_t>(data.feature_bins[static_cast<size_t>(f)].num_bins() - 1);
    const uint8_t* bins = b.data<uint8_t>();
    const uint8_t* tile = limit.data();
    int64_t bad_row = rows;
#pragma omp parallel for schedule(static) reduction(min : bad_row)
    for (int64_t first = 0; first < rows; first += kTileRows) {
        const int64_t bytes = std::min(kTileRows, rows - first) * features;
        const uint8_t* block = bins + first * features;
        uint8_t over = 0;
        for (int64_t i = 0; i < bytes; ++i) over |= static_cast<uint8_t>(block[i] > tile[i]);
        if (!over) continue;
        for (int64_t i = 0; i < bytes; ++i)
            if (block[i] > tile[i]) {
                bad_row = std::min(bad_row, first + i / features);
                break;
            }
    }
    if (bad_row < rows) {
        int64_t f = 0;
        while (bins[bad_row * features + f] <= limit[static_cast<size_t>(f)]) ++f;
        fail("bin " + std::to_string(bins[bad_row * features + f]) + " at row " + std::to_string(bad_row) +
             " of feature '" + data.feature_names[static_cast<size_t>(f)] + "' is beyond its " +
             std::to_string(limit[static_cast<size_t>(f)] + 1) + " bins");
    }
}

}  // namespace skipper::gbdt
