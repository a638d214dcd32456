// The binned training input: bin edges depend only on the sample's values,
// the TabularDataset path equals binning first, and broken binned sets are
// refused before they can index outside a histogram.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "engine/error.h"
#include "trainer/gbdt/binned_dataset.h"
#include "trainer/gbdt/gbdt.h"

namespace skipper {
namespace {

// Three numeric features (many values, few values with NaN, small integers)
// and one categorical; labels from a noisy rule.
data::TabularDataset mixed_set(int64_t rows, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    data::TabularDataset d;
    d.feature_names = {"wide", "sparse", "hour", "kind"};
    d.categorical = {false, false, false, true};
    d.category_names = {{}, {}, {}, {"a", "b", "c", "d", "e"}};
    std::vector<float> x(static_cast<size_t>(rows * 4)), y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x.data() + r * 4;
        row[0] = normal(rng);
        row[1] = rng() % 7 == 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(rng() % 5) * 0.5f;
        row[2] = static_cast<float>(rng() % 24);
        row[3] = static_cast<float>(rng() % 5);
        const float logit = row[0] + (row[2] > 12 ? 1.0f : -1.0f) + (row[3] == 2.0f ? 1.5f : 0.0f);
        y[static_cast<size_t>(r)] = normal(rng) < logit ? 1.0f : 0.0f;
    }
    d.features = Tensor::from_vector<float>(x, {rows, 4});
    d.labels = Tensor::from_vector<float>(y, {rows});
    return d;
}

TEST(BinnedDataset, BinEdgesDependOnlyOnTheSampleValues) {
    const auto data = mixed_set(3000, 1);
    const int64_t rows = data.rows();
    std::vector<int64_t> order(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) order[static_cast<size_t>(r)] = r;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
    std::vector<float> shuffled(static_cast<size_t>(rows * 4));
    const float* x = data.features.data<float>();
    for (int64_t r = 0; r < rows; ++r)
        std::copy_n(x + order[static_cast<size_t>(r)] * 4, 4, shuffled.data() + r * 4);
    const auto a = gbdt::fit_bins_on_sample(data.features, data.feature_names, data.categorical, 32);
    const auto b = gbdt::fit_bins_on_sample(Tensor::from_vector<float>(shuffled, {rows, 4}), data.feature_names,
                                            data.categorical, 32);
    ASSERT_EQ(a.size(), 4u);
    EXPECT_EQ(a[0].upper_bounds.size(), 32u);  // many distinct values: max_bin bins
    EXPECT_EQ(a[3].value_bins(), 5);
    EXPECT_TRUE(a == b);
}

// The radix sort against std::sort, bit for bit: signs, both zeros, the
// infinities, subnormals, repeats and every exponent, at sizes around its
// edges (empty, one value, digits all keys share).
TEST(BinnedDataset, SortFloatsEqualsStdSort) {
    std::mt19937_64 rng(11);
    const std::vector<float> specials = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                                         -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(),
                                         -std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                                         std::numeric_limits<float>::lowest(), 1.0f, -1.0f};
    const auto bits = [](float v) { return std::bit_cast<uint32_t>(v); };
    for (const size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{100}, size_t{4097}, size_t{100000}}) {
        for (int kind = 0; kind < 3; ++kind) {
            std::vector<float> values(n);
            for (auto& v : values) {
                if (kind == 0) v = std::bit_cast<float>(static_cast<uint32_t>(rng()) & 0xFF7FFFFFu);  // any exponent but NaN's
                else if (kind == 1) v = specials[rng() % specials.size()];
                else v = static_cast<float>(rng() % 9) * 0.25f;  // few values: digits shared by every key
            }
            std::vector<float> expected = values;
            std::sort(expected.begin(), expected.end(), [](float a, float b) {
                return a < b || (a == b && std::signbit(a) && !std::signbit(b));
            });
            gbdt::sort_floats(values);
            ASSERT_EQ(values.size(), expected.size());
            for (size_t i = 0; i < n; ++i)
                ASSERT_EQ(bits(values[i]), bits(expected[i])) << "n " << n << " kind " << kind << " at " << i;
        }
    }
}

TEST(BinnedDataset, BinOfIsTheFirstBoundNotBelowTheValue) {
    std::mt19937_64 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const size_t count : {1, 2, 3, 7, 64, 255}) {
        gbdt::FeatureBins bins;
        for (size_t i = 0; i + 1 < count; ++i) bins.upper_bounds.push_back(normal(rng));
        std::sort(bins.upper_bounds.begin(), bins.upper_bounds.end());
        bins.upper_bounds.push_back(std::numeric_limits<double>::infinity());
        std::vector<float> values = {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
        for (double b : bins.upper_bounds) values.push_back(static_cast<float>(b));  // exactly on a bound
        for (int i = 0; i < 2000; ++i) values.push_back(normal(rng));
        for (float v : values) {
            const auto want = std::lower_bound(bins.upper_bounds.begin(), bins.upper_bounds.end(), static_cast<double>(v)) -
                              bins.upper_bounds.begin();
            ASSERT_EQ(bins.bin_of(v), want) << "value " << v << " with " << count << " bins";
        }
        EXPECT_EQ(bins.bin_of(std::numeric_limits<float>::quiet_NaN()), bins.missing_bin());
    }
}

// bin_rows searches float copies of the double bounds: it must give bin_of's
// bin for every float, also right next to a bound that no float equals.
TEST(BinnedDataset, BinRowsEqualsBinOfForEveryValue) {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> normal(0.0, 1.0);
    constexpr float kInf = std::numeric_limits<float>::infinity();
    std::vector<gbdt::FeatureBins> features;
    for (const size_t count : {1, 2, 3, 5, 64, 200, 255}) {
        gbdt::FeatureBins bins;
        for (size_t i = 0; i + 1 < count; ++i) bins.upper_bounds.push_back(normal(rng));  // between floats
        if (count > 3) {
            bins.upper_bounds[0] = -1e300;  // beyond float's range
            bins.upper_bounds[1] = static_cast<float>(bins.upper_bounds[1]);  // exactly a float
        }
        std::sort(bins.upper_bounds.begin(), bins.upper_bounds.end());
        if (count > 5) bins.upper_bounds[count - 2] = 1e300;
        bins.upper_bounds.push_back(std::numeric_limits<double>::infinity());
        features.push_back(bins);
    }
    gbdt::FeatureBins category;
    category.categorical = true;
    category.bin_category = {3, 0, 5};
    category.category_bin = {1, -1, -1, 0, -1, 2};
    features.push_back(category);
    const auto width = static_cast<int64_t>(features.size());

    // Per feature: each bound's neighbouring floats, the infinities, NaN, random values.
    std::vector<std::vector<float>> candidates(features.size());
    for (size_t f = 0; f < features.size(); ++f) {
        auto& c = candidates[f];
        c = {-kInf, kInf, std::numeric_limits<float>::quiet_NaN(), 0.0f, -0.0f, 1.0f, 7.0f, -1.0f, 2.5f};
        for (double b : features[f].upper_bounds) {
            const float near = static_cast<float>(b);
            c.push_back(near);
            c.push_back(std::nextafter(near, kInf));
            c.push_back(std::nextafter(near, -kInf));
        }
        for (int i = 0; i < 500; ++i) c.push_back(static_cast<float>(normal(rng)));
    }
    size_t most = 0;
    for (const auto& c : candidates) most = std::max(most, c.size());
    const auto rows = static_cast<int64_t>(most);
    Tensor x = Tensor::empty({rows, width}, DType::f32);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t f = 0; f < width; ++f) {
            const auto& c = candidates[static_cast<size_t>(f)];
            x.data<float>()[r * width + f] = c[static_cast<size_t>(r) % c.size()];
        }
    const Tensor bins = gbdt::bin_rows(x, features);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t f = 0; f < width; ++f) {
            const float v = x.data<float>()[r * width + f];
            ASSERT_EQ(bins.data<uint8_t>()[r * width + f], features[static_cast<size_t>(f)].bin_of(v))
                << "feature " << f << " value " << v;
        }
    // The same through bin_features: the features of one row side by side, their bounds of different sizes.
    const gbdt::RowBinner binner(features);
    std::vector<uint8_t> row(static_cast<size_t>(width));
    for (int64_t r = 0; r < rows; ++r) {
        binner.bin_features(0, width, x.data<float>() + r * width, row.data());
        for (int64_t f = 0; f < width; ++f)
            ASSERT_EQ(row[static_cast<size_t>(f)], bins.data<uint8_t>()[r * width + f]) << "row " << r << " feature " << f;
    }
}

// RowBinner::bin_features gives bin_of's bin for a row of many features
// (more than 16), from any first feature, whatever the longest feature's
// bound count: up to 16 (one block), 17..256 (16 blocks of 2..16 bounds).
TEST(BinnedDataset, BinFeaturesEqualsBinOfForEveryLayout) {
    std::mt19937_64 rng(23);
    std::normal_distribution<double> normal(0.0, 1.0);
    constexpr float kInf = std::numeric_limits<float>::infinity();
    for (const size_t longest : {1, 2, 9, 16, 17, 32, 33, 100, 255, 256}) {
        std::vector<gbdt::FeatureBins> features;
        for (size_t f = 0; f < 37; ++f) {
            gbdt::FeatureBins bins;
            if (f % 9 == 4) {
                bins.categorical = true;
                bins.bin_category = {2, 0};
                bins.category_bin = {1, -1, 0};
                features.push_back(bins);
                continue;
            }
            // Bound counts from 1 to `longest`, the longest at feature 0 and at feature 36.
            const size_t count = f == 0 || f == 36 ? longest : 1 + (f * 7) % longest;
            for (size_t i = 0; i + 1 < count; ++i) bins.upper_bounds.push_back(normal(rng));
            std::sort(bins.upper_bounds.begin(), bins.upper_bounds.end());
            if (count > 4) bins.upper_bounds[count / 2] = bins.upper_bounds[count / 2 - 1];  // a float twice
            bins.upper_bounds.push_back(std::numeric_limits<double>::infinity());
            features.push_back(bins);
        }
        const gbdt::RowBinner binner(features);
        const auto width = static_cast<int64_t>(features.size());
        std::vector<float> row(static_cast<size_t>(width));
        std::vector<uint8_t> got(static_cast<size_t>(width));
        for (int r = 0; r < 600; ++r) {
            for (int64_t f = 0; f < width; ++f) {
                const auto& ub = features[static_cast<size_t>(f)].upper_bounds;
                float v = static_cast<float>(normal(rng));
                // Every few rows a bound itself, its neighbours, the infinities, NaN, a category.
                if (!ub.empty() && r % 3 == 0) v = static_cast<float>(ub[static_cast<size_t>(r / 3) % ub.size()]);
                if (r % 3 == 1) v = std::nextafter(v, (r / 3) % 2 == 0 ? kInf : -kInf);
                if (r % 50 == 2) v = (r / 50) % 2 == 0 ? kInf : -kInf;
                if ((r + f) % 41 == 5) v = std::numeric_limits<float>::quiet_NaN();
                if (features[static_cast<size_t>(f)].categorical) v = static_cast<float>((r + f) % 4);
                row[static_cast<size_t>(f)] = v;
            }
            for (const int64_t first : {int64_t{0}, int64_t{5}}) {
                binner.bin_features(static_cast<size_t>(first), width - first, row.data() + first, got.data());
                for (int64_t f = first; f < width; ++f)
                    ASSERT_EQ(got[static_cast<size_t>(f - first)], features[static_cast<size_t>(f)].bin_of(row[static_cast<size_t>(f)]))
                        << "longest " << longest << " feature " << f << " value " << row[static_cast<size_t>(f)];
            }
        }
    }
}

// RowBinner::bin_integer's table gives bin_of's bin for the small integers,
// and its search for the others (negative, beyond the table).
TEST(BinnedDataset, BinIntegerEqualsBinOf) {
    std::vector<gbdt::FeatureBins> features(4);
    features[0].upper_bounds = {0.5, 1.5, 2.5, 7.0, 19.5, 63.5, 64.5, std::numeric_limits<double>::infinity()};
    features[1].upper_bounds = {-2.5, 100.0, std::numeric_limits<double>::infinity()};
    features[2].upper_bounds = {std::numeric_limits<double>::infinity()};
    features[3].categorical = true;
    features[3].bin_category = {3, 0, 70};
    features[3].category_bin.assign(71, -1);
    features[3].category_bin[3] = 0;
    features[3].category_bin[0] = 1;
    features[3].category_bin[70] = 2;
    const gbdt::RowBinner binner(features);
    for (size_t f = 0; f < features.size(); ++f)
        for (int32_t v = -5; v < 200; ++v)
            ASSERT_EQ(binner.bin_integer(f, v), features[f].bin_of(static_cast<float>(v))) << "feature " << f << " value " << v;
}

TEST(BinnedDataset, TabularTrainingEqualsBinningFirst) {
    const auto train = mixed_set(5000, 2), valid = mixed_set(1000, 3);
    GbdtParams p;
    p.num_iterations = 8;
    p.num_leaves = 8;
    p.bagging_fraction = 0.6;
    p.bagging_freq = 1;
    p.num_threads = 2;
    TrainingLog from_raw, from_bins;
    const auto direct = train_gbdt(train, &valid, p, &from_raw).to_bytes();
    auto bins = gbdt::fit_feature_bins(train, p.max_bin, p.bin_construct_sample_cnt, static_cast<uint64_t>(p.seed));
    const auto binned_valid = gbdt::bin_dataset(valid, bins);
    const auto binned_train = gbdt::bin_dataset(train, bins);
    const auto staged = train_gbdt(binned_train, &binned_valid, p, &from_bins).to_bytes();
    EXPECT_TRUE(direct == staged);
    ASSERT_EQ(from_raw.records.size(), from_bins.records.size());
    EXPECT_EQ(from_raw.records.back().metrics, from_bins.records.back().metrics);
}

TEST(BinnedDataset, ExplicitRowKeysEqualToTheRowIndexChangeNothing) {
    const auto train = mixed_set(4000, 4);
    GbdtParams p;
    p.num_iterations = 5;
    p.bagging_fraction = 0.5;
    p.bagging_freq = 1;
    p.num_threads = 1;
    auto bins = gbdt::fit_feature_bins(train, p.max_bin, p.bin_construct_sample_cnt, 0);
    auto binned = gbdt::bin_dataset(train, bins);
    const auto implicit = train_gbdt(binned, nullptr, p).to_bytes();
    for (int64_t r = 0; r < binned.rows(); ++r) binned.row_keys.push_back(static_cast<uint64_t>(r));
    EXPECT_TRUE(train_gbdt(binned, nullptr, p).to_bytes() == implicit);
    // Other keys draw another bag, hence another model.
    for (auto& key : binned.row_keys) key += 1000003;
    EXPECT_FALSE(train_gbdt(binned, nullptr, p).to_bytes() == implicit);
}

TEST(BinnedDataset, BrokenSetsAreRefused) {
    const auto train = mixed_set(500, 5);
    GbdtParams p;
    p.num_iterations = 2;
    auto bins = gbdt::fit_feature_bins(train, p.max_bin, p.bin_construct_sample_cnt, 0);
    auto out_of_range = gbdt::bin_dataset(train, bins);
    Tensor copy = Tensor::empty(out_of_range.bins.shape(), DType::u8);
    std::copy_n(out_of_range.bins.data<uint8_t>(), copy.numel(), copy.data<uint8_t>());
    copy.data<uint8_t>()[17 * 4 + 3] = 200;  // the categorical feature has 6 bins
    out_of_range.bins = copy;
    try {
        train_gbdt(out_of_range, nullptr, p);
        FAIL() << "an out-of-range bin was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("row 17"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("'kind'"), std::string::npos) << e.what();
    }
    // The first bad row is named, wherever the others are; the last rows
    // (a partial block of the scan) are looked at too.
    const auto refusal = [&](const gbdt::BinnedDataset& set) -> std::string {
        try {
            train_gbdt(set, nullptr, p);
        } catch (const Error& e) {
            return e.what();
        }
        return "accepted";
    };
    ASSERT_LT(bins[2].num_bins(), 255);
    const auto hour_bins = static_cast<uint8_t>(bins[2].num_bins());
    for (const int64_t row : {int64_t{499}, int64_t{130}}) {
        copy.data<uint8_t>()[17 * 4 + 3] = 0;
        copy.data<uint8_t>()[499 * 4 + 2] = hour_bins;
        copy.data<uint8_t>()[row * 4 + 2] = hour_bins;
        const std::string what = refusal(out_of_range);
        EXPECT_NE(what.find("row " + std::to_string(row) + " of feature 'hour'"), std::string::npos) << what;
    }
    auto bad_label = gbdt::bin_dataset(train, bins);
    Tensor labels = Tensor::empty(bad_label.labels.shape(), DType::f32);
    std::copy_n(bad_label.labels.data<float>(), labels.numel(), labels.data<float>());
    labels.data<float>()[499] = 2.0f;
    labels.data<float>()[301] = 0.5f;
    bad_label.labels = labels;
    EXPECT_NE(refusal(bad_label).find("label at row 301 is 0.5"), std::string::npos) << refusal(bad_label);
    auto few_keys = gbdt::bin_dataset(train, bins);
    few_keys.row_keys = {1, 2, 3};
    EXPECT_THROW(train_gbdt(few_keys, nullptr, p), Error);
    const auto other_train = gbdt::bin_dataset(mixed_set(500, 6), bins);
    auto other_bins = gbdt::fit_feature_bins(mixed_set(500, 6), 16, 1000, 0);
    const auto other_valid = gbdt::bin_dataset(mixed_set(200, 7), other_bins);
    EXPECT_THROW(train_gbdt(other_train, &other_valid, p), Error);
}

}  // namespace
}  // namespace skipper
