#include "trainer/gbdt/binning.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/error.h"
#include "trainer/gbdt/binned_dataset.h"

namespace skipper::gbdt {

namespace {

// Rows to fit the bins on: all of them, or `sample_count` drawn without
// replacement (Knuth's selection sampling keeps them in row order).
std::vector<int64_t> sample_rows(int64_t rows, int64_t sample_count, uint64_t seed) {
    std::vector<int64_t> picked;
    if (rows <= sample_count) {
        picked.resize(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) picked[static_cast<size_t>(r)] = r;
        return picked;
    }
    picked.reserve(static_cast<size_t>(sample_count));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    int64_t needed = sample_count;
    for (int64_t r = 0; r < rows && needed > 0; ++r) {
        if (uniform(rng) * static_cast<double>(rows - r) < static_cast<double>(needed)) {
            picked.push_back(r);
            --needed;
        }
    }
    return picked;
}

// Greedy equal-frequency cuts over sorted distinct values, as LightGBM does:
// a value heavy enough to fill a bin gets one to itself. Bounds sit halfway
// between neighbouring distinct values.
std::vector<double> numeric_upper_bounds(std::vector<float>& values, int64_t max_bin) {
    std::vector<double> distinct;
    std::vector<int64_t> counts;
    // Flags, counts and hours are small integers: counting them beats sorting.
    constexpr float kSmallInteger = 32768.0f;
    const bool small_integers = std::all_of(values.begin(), values.end(), [](float v) {
        return v >= -kSmallInteger && v <= kSmallInteger && v == std::nearbyint(v);
    });
    if (small_integers) {
        const auto span = static_cast<size_t>(2 * kSmallInteger) + 1;
        std::vector<int64_t> tally(span, 0);
        for (float v : values) ++tally[static_cast<size_t>(v + kSmallInteger)];
        for (size_t i = 0; i < span; ++i)
            if (tally[i] > 0) {
                distinct.push_back(static_cast<double>(i) - static_cast<double>(kSmallInteger));
                counts.push_back(tally[i]);
            }
    } else {
        sort_floats(values);
        for (float v : values) {
            if (distinct.empty() || static_cast<double>(v) != distinct.back()) {
                distinct.push_back(v);
                counts.push_back(0);
            }
            ++counts.back();
        }
    }
    std::vector<double> bounds;
    const size_t d = distinct.size();
    if (static_cast<int64_t>(d) <= max_bin) {
        for (size_t i = 0; i + 1 < d; ++i) bounds.push_back((distinct[i] + distinct[i + 1]) / 2.0);
    } else {
        int64_t rest_count = static_cast<int64_t>(values.size());
        int64_t rest_bins = max_bin;
        double target = static_cast<double>(rest_count) / static_cast<double>(rest_bins);
        int64_t in_bin = 0;
        for (size_t i = 0; i + 1 < d && rest_bins > 1; ++i) {
            in_bin += counts[i];
            rest_count -= counts[i];
            if (static_cast<double>(in_bin) >= target || static_cast<double>(counts[i + 1]) >= target) {
                bounds.push_back((distinct[i] + distinct[i + 1]) / 2.0);
                --rest_bins;
                in_bin = 0;
                target = static_cast<double>(rest_count) / static_cast<double>(rest_bins);
            }
        }
    }
    bounds.push_back(std::numeric_limits<double>::infinity());
    return bounds;
}

}  // namespace

// A least-significant-digit radix sort of the bits, 11 bits a pass. The bits
// are flipped so that unsigned order is float order (negatives reversed).
void sort_floats(std::vector<float>& values) {
    constexpr int kDigitBits = 11, kPasses = 3;
    constexpr uint32_t kBuckets = 1u << kDigitBits;
    const size_t n = values.size();
    if (n < 2) return;
    std::vector<uint32_t> keys(n), scratch(n);
    std::vector<std::array<size_t, kBuckets>> counts(kPasses);
    for (auto& c : counts) c.fill(0);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = std::bit_cast<uint32_t>(values[i]);
        const uint32_t key = bits ^ ((bits & 0x80000000u) != 0 ? 0xFFFFFFFFu : 0x80000000u);
        keys[i] = key;
        for (int pass = 0; pass < kPasses; ++pass) ++counts[pass][(key >> (pass * kDigitBits)) & (kBuckets - 1)];
    }
    for (int pass = 0; pass < kPasses; ++pass) {
        auto& count = counts[pass];
        const int shift = pass * kDigitBits;
        // A digit every key shares leaves the order as it is.
        if (count[(keys[0] >> shift) & (kBuckets - 1)] == n) continue;
        size_t offset = 0;
        for (auto& c : count) offset += std::exchange(c, offset);
        for (const uint32_t key : keys) scratch[count[(key >> shift) & (kBuckets - 1)]++] = key;
        keys.swap(scratch);
    }
    for (size_t i = 0; i < n; ++i) {
        const uint32_t key = keys[i];
        values[i] = std::bit_cast<float>(key ^ ((key & 0x80000000u) != 0 ? 0x80000000u : 0xFFFFFFFFu));
    }
}

uint8_t FeatureBins::bin_of(float value) const {
    if (std::isnan(value)) return static_cast<uint8_t>(missing_bin());
    if (categorical) {
        if (value < 0.0f || value >= static_cast<float>(category_bin.size())) return static_cast<uint8_t>(missing_bin());
        const int32_t bin = category_bin[static_cast<size_t>(value)];
        return static_cast<uint8_t>(bin < 0 ? missing_bin() : bin);
    }
    // The first bound >= value (std::lower_bound), by a branchless binary
    // search: mispredicted branches dominated binning. The step is a product
    // with the comparison because GCC 12 compiled the conditional as a branch.
    const double v = value;
    const double* base = upper_bounds.data();
    size_t length = upper_bounds.size();
    while (length > 1) {
        const size_t half = length / 2;
        base += half * static_cast<size_t>(base[half - 1] < v);
        length -= half;
    }
    return static_cast<uint8_t>((base - upper_bounds.data()) + (*base < v ? 1 : 0));
}

std::vector<FeatureBins> fit_feature_bins(const data::TabularDataset& data, int64_t max_bin, int64_t sample_count,
                                          uint64_t seed) {
    const int64_t features = data.num_features();
    const float* x = data.features.data<float>();
    const std::vector<int64_t> sample = sample_rows(data.rows(), sample_count, seed);
    Tensor rows = Tensor::empty({static_cast<int64_t>(sample.size()), features}, DType::f32);
    float* out = rows.data<float>();
    for (size_t i = 0; i < sample.size(); ++i)
        std::copy_n(x + sample[i] * features, features, out + static_cast<int64_t>(i) * features);
    return fit_bins_on_sample(rows, data.feature_names, data.categorical, max_bin);
}

std::vector<FeatureBins> fit_bins_on_sample(const Tensor& sample, const std::vector<std::string>& feature_names,
                                            const std::vector<bool>& categorical, int64_t max_bin) {
    const int64_t n = sample.size(0), features = sample.size(1);
    const float* x = sample.data<float>();
    // Each feature's values, contiguous (a transpose by tiles of 256 rows, which
    // stay in L1), instead of one strided pass over every row per feature.
    constexpr int64_t kTileRows = 256;
    // Not zeroed first (the host allocator's blocks): every value is written.
    const Tensor columns = Tensor::empty({features, n}, DType::f32);
    float* by_feature = columns.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t first = 0; first < n; first += kTileRows) {
        const int64_t last = std::min(first + kTileRows, n);
        for (int64_t f = 0; f < features; ++f)
            for (int64_t r = first; r < last; ++r) by_feature[f * n + r] = x[r * features + f];
    }
    std::vector<FeatureBins> out(static_cast<size_t>(features));
    // Every feature's edges depend on the multiset of its sample values only:
    // numeric values are sorted (or tallied) before cutting, and categories
    // are ordered by count with ties broken by code.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t f = 0; f < features; ++f) {
        FeatureBins& bins = out[static_cast<size_t>(f)];
        bins.categorical = categorical[static_cast<size_t>(f)];
        const float* column = by_feature + f * n;
        if (!bins.categorical) {
            std::vector<float> values;
            values.reserve(static_cast<size_t>(n));
            for (int64_t r = 0; r < n; ++r)
                if (!std::isnan(column[r])) values.push_back(column[r]);
            bins.upper_bounds = numeric_upper_bounds(values, max_bin);
            continue;
        }
        std::vector<int64_t> counts;
        for (int64_t r = 0; r < n; ++r) {
            const float v = column[r];
            if (std::isnan(v) || v < 0.0f) continue;
            if (v >= static_cast<float>(kMaxCategoryCode)) continue;  // reported below, outside the parallel loop
            const auto code = static_cast<size_t>(v);
            if (code >= counts.size()) counts.resize(code + 1, 0);
            ++counts[code];
        }
        std::vector<int32_t> order;
        for (size_t c = 0; c < counts.size(); ++c)
            if (counts[c] > 0) order.push_back(static_cast<int32_t>(c));
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return counts[static_cast<size_t>(a)] > counts[static_cast<size_t>(b)];
        });
        if (static_cast<int64_t>(order.size()) > max_bin) order.resize(static_cast<size_t>(max_bin));
        bins.bin_category = order;
        bins.category_bin.assign(counts.size(), -1);
        for (size_t b = 0; b < order.size(); ++b) bins.category_bin[static_cast<size_t>(order[b])] = static_cast<int32_t>(b);
    }
    for (int64_t f = 0; f < features; ++f) {
        if (!categorical[static_cast<size_t>(f)]) continue;
        const float* column = by_feature + f * n;
        for (int64_t r = 0; r < n; ++r)
            if (column[r] >= static_cast<float>(kMaxCategoryCode))
                throw Error("feature '" + feature_names[static_cast<size_t>(f)] + "' is categorical but holds code " +
                            std::to_string(column[r]) + " (codes must be below " +
                            std::to_string(kMaxCategoryCode) + ")");
    }
    return out;
}

namespace {

// The largest float <= bound. A float v is <= bound exactly when it is <= this
// float, so bin_of's comparisons against double bounds can run in float.
float float_at_most(double bound) {
    float f = static_cast<float>(bound);
    if (static_cast<double>(f) > bound) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
}

}  // namespace

RowBinner::RowBinner(const std::vector<FeatureBins>& bins)
    : bins_(bins), size_(bins.size(), 1), small_(bins.size() * kSmallValues) {
    for (size_t f = 0; f < bins.size(); ++f) {
        if (bins[f].categorical) continue;
        size_[f] = std::bit_ceil(bins[f].upper_bounds.size());
        stride_ = std::max(stride_, size_[f]);
    }
    // bin_features indexes the bounds with 32-bit lanes.
    if (bins.size() * stride_ > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        throw Error("RowBinner: " + std::to_string(bins.size()) + " features of " + std::to_string(stride_) +
                    " bounds are too many to index");
    const auto features = static_cast<int64_t>(bins.size());
    bounds_ = Tensor::empty({features, static_cast<int64_t>(stride_)}, DType::f32);
    float* bound = bounds_.data<float>();
    std::fill_n(bound, bounds_.numel(), std::numeric_limits<float>::infinity());
    bound_ = bound;
    for (size_t f = 0; f < bins.size(); ++f) {
        if (bins[f].categorical) continue;
        const auto& ub = bins[f].upper_bounds;
        for (size_t b = 0; b < ub.size(); ++b) bound[f * stride_ + b] = float_at_most(ub[b]);
    }
    for (size_t f = 0; f < bins.size(); ++f)
        for (int32_t v = 0; v < kSmallValues; ++v) small_[f * kSmallValues + static_cast<size_t>(v)] = bin(f, static_cast<float>(v));
    // bin_features' blocks: the stride in 16 blocks (one block when it is 16 or less).
    block_ = stride_ > 16 ? static_cast<uint32_t>(stride_ / 16) : static_cast<uint32_t>(stride_);
    block_mask_ = static_cast<uint16_t>((uint32_t{1} << block_) - 1);
    block_ends_ = Tensor::empty({features, 16}, DType::f32);
    float* block_end = block_ends_.data<float>();
    std::fill_n(block_end, block_ends_.numel(), std::numeric_limits<float>::infinity());
    block_end_ = block_end;
    if (stride_ > 16)
        for (size_t f = 0; f < bins.size(); ++f)
            for (size_t k = 0; k < 16; ++k) block_end[f * 16 + k] = bound[f * stride_ + (k + 1) * block_ - 1];
}

void RowBinner::bin_column(size_t feature, const float* x, int64_t stride, int64_t count, uint8_t* out,
                           int64_t out_stride) const {
    const FeatureBins& bins = bins_[feature];
    if (bins.categorical) {
        for (int64_t i = 0; i < count; ++i) out[i * out_stride] = bins.bin_of(x[i * stride]);
        return;
    }
    const float* base = bound_ + feature * stride_;
    const size_t size = size_[feature];
    const auto missing = static_cast<uint8_t>(bins.missing_bin());
    constexpr int64_t kLanes = 16;
    for (int64_t first = 0; first < count; first += kLanes) {
        const int64_t n = std::min(kLanes, count - first);
        float v[kLanes];
        int32_t pos[kLanes];
        for (int64_t j = 0; j < kLanes; ++j) {
            v[j] = j < n ? x[(first + j) * stride] : 0.0f;
            pos[j] = 0;
        }
        // NaN compares false everywhere: its lane ends at 0 and is the missing bin below.
        for (auto step = static_cast<int32_t>(size / 2); step > 0; step /= 2)
#pragma omp simd
            for (int64_t j = 0; j < kLanes; ++j) pos[j] += step * static_cast<int32_t>(base[pos[j] + step - 1] < v[j]);
        for (int64_t j = 0; j < n; ++j)
            out[(first + j) * out_stride] =
                std::isnan(v[j]) ? missing : static_cast<uint8_t>(pos[j] + (base[pos[j]] < v[j] ? 1 : 0));
    }
}

void RowBinner::bin_features(size_t first, int64_t count, const float* v, uint8_t* out) const {
    for (int64_t j = 0; j < count; ++j) {
        const size_t f = first + static_cast<size_t>(j);
        const float x = v[j];
#if defined(__AVX512F__)
        if (bins_[f].categorical || std::isnan(x)) {
            out[j] = bins_[f].bin_of(x);
            continue;
        }
        // The bin is the count of bounds below x (they are sorted): the block
        // ends below x say how many whole blocks are, then the block after them
        // says how many of its own. Two compares of 16 floats, no chain of loads.
        const __m512 value = _mm512_set1_ps(x);
        uint32_t pos = 0;
        if (stride_ > 16)
            pos = static_cast<uint32_t>(std::popcount(static_cast<uint32_t>(
                      _mm512_cmp_ps_mask(_mm512_loadu_ps(block_end_ + f * 16), value, _CMP_LT_OQ)))) *
                  block_;
        const float* block = bound_ + f * stride_ + pos;
        pos += static_cast<uint32_t>(std::popcount(static_cast<uint32_t>(
            _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(block_mask_, block), value, _CMP_LT_OQ) & block_mask_)));
        out[j] = static_cast<uint8_t>(pos);
#else
        out[j] = bin(f, x);
#endif
    }
}

Tensor bin_rows(const Tensor& features, const std::vector<FeatureBins>& bins) {
    return bin_rows(features, RowBinner(bins));
}

Tensor bin_rows(const Tensor& features, const RowBinner& binner) {
    const int64_t rows = features.size(0), width = features.size(1);
    if (width > binner.num_features())
        throw Error("bin_rows: " + std::to_string(width) + " feature columns, " + std::to_string(binner.num_features()) +
                    " features binned");
    Tensor out = Tensor::empty({rows, width}, DType::u8);
    const float* x = features.data<float>();
    uint8_t* b = out.data<uint8_t>();
    // Blocks of rows, feature by feature: each feature's bounds stay in the cache for a block.
    constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static)
    for (int64_t first = 0; first < rows; first += kBlock) {
        const int64_t count = std::min(kBlock, rows - first);
        for (int64_t f = 0; f < width; ++f)
            binner.bin_column(static_cast<size_t>(f), x + first * width + f, width, count, b + first * width + f, width);
    }
    return out;
}

Tensor histogram_offsets(const std::vector<FeatureBins>& bins) {
    std::vector<int32_t> offsets(bins.size() + 1, 0);
    for (size_t f = 0; f < bins.size(); ++f) offsets[f + 1] = offsets[f] + bins[f].num_bins();
    return Tensor::from_vector<int32_t>(offsets, {static_cast<int64_t>(offsets.size())});
}

}  // namespace skipper::gbdt
