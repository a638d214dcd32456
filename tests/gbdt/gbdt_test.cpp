// The GBDT trainer on small sets where the answer is known: best splits,
// an exact brute-force tree, falling loss, early stopping, model files,
// determinism across thread counts, and refused parameters and files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "engine/error.h"
#include "engine/context.h"
#include "engine/gbdt_ops.h"
#include "engine/histogram_ops.h"
#include "engine/params.h"
#include "trainer/gbdt/binning.h"
#include "trainer/gbdt/gbdt.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

data::TabularDataset make_dataset(const std::vector<std::vector<float>>& columns, const std::vector<float>& labels,
                                  const std::vector<bool>& categorical = {}) {
    data::TabularDataset d;
    const auto features = static_cast<int64_t>(columns.size());
    const auto rows = static_cast<int64_t>(labels.size());
    std::vector<float> x(static_cast<size_t>(rows * features));
    for (int64_t f = 0; f < features; ++f) {
        d.feature_names.push_back("f" + std::to_string(f));
        for (int64_t r = 0; r < rows; ++r)
            x[static_cast<size_t>(r * features + f)] = columns[static_cast<size_t>(f)][static_cast<size_t>(r)];
    }
    d.categorical = categorical.empty() ? std::vector<bool>(static_cast<size_t>(features), false) : categorical;
    d.category_names.resize(static_cast<size_t>(features));
    for (int64_t f = 0; f < features; ++f)
        if (d.categorical[static_cast<size_t>(f)]) {
            const float top = *std::max_element(columns[static_cast<size_t>(f)].begin(), columns[static_cast<size_t>(f)].end());
            for (int c = 0; c <= static_cast<int>(top); ++c) d.category_names[static_cast<size_t>(f)].push_back("c" + std::to_string(c));
        }
    d.features = Tensor::from_vector<float>(x, {rows, features});
    d.labels = Tensor::from_vector<float>(labels, {rows});
    return d;
}

// A learnable mix: two numeric features (one with missing values), one
// categorical with 8 categories, one noise column; label from a logistic model.
data::TabularDataset learnable_set(int64_t rows, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<std::vector<float>> cols(4, std::vector<float>(static_cast<size_t>(rows)));
    std::vector<float> y(static_cast<size_t>(rows));
    const float category_effect[8] = {1.5f, -1.0f, 0.2f, -2.0f, 0.8f, 0.0f, -0.5f, 2.0f};
    for (int64_t r = 0; r < rows; ++r) {
        const auto i = static_cast<size_t>(r);
        const float a = u(rng), b = u(rng), noise = u(rng);
        const int category = static_cast<int>(rng() % 8);
        const bool missing = u(rng) < 0.1f;
        double logit = 3.0 * (a - 0.5) + 2.0 * std::sin(6.0 * b) + category_effect[category] + (missing ? 1.0 : 0.0);
        cols[0][i] = a;
        cols[1][i] = missing ? kNaN : b;
        cols[2][i] = static_cast<float>(category);
        cols[3][i] = noise;
        y[i] = u(rng) < 1.0 / (1.0 + std::exp(-logit)) ? 1.0f : 0.0f;
    }
    return make_dataset(cols, y, {false, false, true, false});
}

GbdtParams small_params() {
    GbdtParams p;
    p.num_iterations = 20;
    p.num_leaves = 8;
    p.min_data_in_leaf = 5;
    p.num_threads = 2;
    return p;
}

TEST(GbdtSplit, ThresholdSeparatesAStepFunction) {
    std::vector<float> x, y;
    for (int i = 0; i < 100; ++i) {
        x.push_back(static_cast<float>(i));
        y.push_back(i >= 60 ? 1.0f : 0.0f);
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 2;
    const GbdtModel model = train_gbdt(make_dataset({x}, y), nullptr, p);
    ASSERT_EQ(model.num_trees(), 1);
    const GbdtTree& tree = model.trees()[0];
    ASSERT_EQ(tree.split_feature.size(), 1u);
    EXPECT_EQ(tree.split_feature[0], 0);
    EXPECT_DOUBLE_EQ(tree.threshold[0], 59.5);
    EXPECT_LT(tree.leaf_value[0], 0.0);
    EXPECT_GT(tree.leaf_value[1], 0.0);
}

TEST(GbdtSplit, PicksTheInformativeFeatureAndHonoursMinDataInLeaf) {
    std::vector<float> noise, signal, y;
    std::mt19937_64 rng(5);
    for (int i = 0; i < 200; ++i) {
        noise.push_back(static_cast<float>(rng() % 1000));
        signal.push_back(static_cast<float>(i));
        y.push_back(i < 10 ? 1.0f : 0.0f);  // the perfect cut leaves 10 rows on one side
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 2;
    p.min_data_in_leaf = 10;
    GbdtModel model = train_gbdt(make_dataset({noise, signal}, y), nullptr, p);
    EXPECT_EQ(model.trees()[0].split_feature[0], 1);
    EXPECT_DOUBLE_EQ(model.trees()[0].threshold[0], 9.5);
    p.min_data_in_leaf = 11;  // now the perfect cut is not allowed
    model = train_gbdt(make_dataset({noise, signal}, y), nullptr, p);
    ASSERT_FALSE(model.trees()[0].split_feature.empty());
    EXPECT_FALSE(model.trees()[0].split_feature[0] == 1 && model.trees()[0].threshold[0] == 9.5);
}

TEST(GbdtSplit, MissingValuesTakeTheSideTheyBelongTo) {
    std::vector<float> x, y;
    for (int i = 0; i < 300; ++i) {
        const bool missing = i % 3 == 0;
        x.push_back(missing ? kNaN : static_cast<float>(i % 100));
        y.push_back(missing || i % 100 < 30 ? 1.0f : 0.0f);  // missing behaves like small values
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 2;
    const GbdtModel model = train_gbdt(make_dataset({x}, y), nullptr, p);
    const GbdtTree& tree = model.trees()[0];
    ASSERT_EQ(tree.split_feature.size(), 1u);
    EXPECT_EQ(tree.default_left[0], 1);
    const float missing_row[] = {kNaN}, small_row[] = {10.0f}, large_row[] = {80.0f};
    EXPECT_GT(model.predict_proba_row(missing_row), 0.5);
    EXPECT_GT(model.predict_proba_row(small_row), 0.5);
    EXPECT_LT(model.predict_proba_row(large_row), 0.5);
}

TEST(GbdtSplit, CategoricalSplitGroupsTheCategories) {
    // Categories 1, 4, 6 and 9 of 10 are positive: a many-vs-many split finds them in one cut.
    std::vector<float> c, y;
    const std::set<int> positive{1, 4, 6, 9};
    for (int i = 0; i < 2000; ++i) {
        c.push_back(static_cast<float>(i % 10));
        y.push_back(positive.count(i % 10) ? 1.0f : 0.0f);
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 2;
    const GbdtModel model = train_gbdt(make_dataset({c}, y, {true}), nullptr, p);
    const GbdtTree& tree = model.trees()[0];
    ASSERT_EQ(tree.split_feature.size(), 1u);
    EXPECT_EQ(tree.categorical[0], 1);
    // One tree with shrinkage does not reach 0.5; the prior (0.4) separates the sides.
    for (int k = 0; k < 10; ++k) {
        const float row[] = {static_cast<float>(k)};
        EXPECT_EQ(model.predict_proba_row(row) > 0.4, positive.count(k) == 1) << "category " << k;
    }
    // Unseen, missing, negative and huge codes all take the right-hand side.
    const float right_side[] = {42.0f, kNaN, -3.0f, 1e30f, std::numeric_limits<float>::infinity()};
    const float category_zero[] = {0.0f};  // a negative category: on the right
    for (float code : right_side)
        EXPECT_EQ(model.predict_proba_row(std::span<const float>(&code, 1)), model.predict_proba_row(category_zero))
            << "code " << code;
}

TEST(GbdtSplit, FewCategoriesSplitOneAgainstTheRest) {
    std::vector<float> c, y;
    for (int i = 0; i < 400; ++i) {
        c.push_back(static_cast<float>(i % 3));
        y.push_back(i % 3 == 2 ? 1.0f : 0.0f);
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 2;
    const GbdtModel model = train_gbdt(make_dataset({c}, y, {true}), nullptr, p);
    const GbdtTree& tree = model.trees()[0];
    ASSERT_EQ(tree.categorical.size(), 1u);
    ASSERT_EQ(tree.cat_words[0], 1);
    EXPECT_EQ(tree.cat_bitsets[static_cast<size_t>(tree.cat_begin[0])], 1u << 2);
}

// ---- One tree against an exact greedy reference that scans every split ----

struct ExactLeaf {
    std::vector<int> rows;
    int depth = 0;
};

// Leaf-wise greedy growth with exact thresholds (midpoints between distinct
// values), the same gain, constraints and tie order as the trainer.
std::vector<double> exact_tree_predictions(const std::vector<std::vector<float>>& cols, const std::vector<double>& g,
                                           const std::vector<double>& h, const GbdtParams& p) {
    struct Best {
        double gain = 0;
        int feature = -1;
        double threshold = 0;
    };
    auto best_split = [&](const ExactLeaf& leaf) {
        Best best;
        if (p.max_depth > 0 && leaf.depth >= p.max_depth) return best;
        double G = 0, H = 0;
        for (int r : leaf.rows) G += g[static_cast<size_t>(r)], H += h[static_cast<size_t>(r)];
        const double parent = G * G / (H + p.lambda_l2);
        for (size_t f = 0; f < cols.size(); ++f) {
            std::vector<int> order = leaf.rows;
            std::sort(order.begin(), order.end(), [&](int a, int b) { return cols[f][static_cast<size_t>(a)] < cols[f][static_cast<size_t>(b)]; });
            double GL = 0, HL = 0;
            for (size_t i = 0; i + 1 < order.size(); ++i) {
                GL += g[static_cast<size_t>(order[i])];
                HL += h[static_cast<size_t>(order[i])];
                const float here = cols[f][static_cast<size_t>(order[i])], next = cols[f][static_cast<size_t>(order[i + 1])];
                if (here == next) continue;
                const auto nl = static_cast<int64_t>(i + 1), nr = static_cast<int64_t>(order.size()) - nl;
                if (nl < p.min_data_in_leaf || nr < p.min_data_in_leaf) continue;
                const double gain = GL * GL / (HL + p.lambda_l2) + (G - GL) * (G - GL) / (H - HL + p.lambda_l2) - parent;
                if (gain > best.gain + 1e-12) best = {gain, static_cast<int>(f), (static_cast<double>(here) + next) / 2};
            }
        }
        return best;
    };
    std::vector<ExactLeaf> leaves(1);
    for (size_t r = 0; r < g.size(); ++r) leaves[0].rows.push_back(static_cast<int>(r));
    std::vector<Best> best{best_split(leaves[0])};
    while (static_cast<int64_t>(leaves.size()) < p.num_leaves) {
        int chosen = -1;
        for (size_t l = 0; l < leaves.size(); ++l)
            if (best[l].feature >= 0 && (chosen < 0 || best[l].gain > best[static_cast<size_t>(chosen)].gain)) chosen = static_cast<int>(l);
        if (chosen < 0) break;
        const Best b = best[static_cast<size_t>(chosen)];
        ExactLeaf left{{}, leaves[static_cast<size_t>(chosen)].depth + 1}, right = left;
        for (int r : leaves[static_cast<size_t>(chosen)].rows)
            (cols[static_cast<size_t>(b.feature)][static_cast<size_t>(r)] <= b.threshold ? left : right).rows.push_back(r);
        leaves[static_cast<size_t>(chosen)] = left;
        leaves.push_back(right);
        best[static_cast<size_t>(chosen)] = best_split(left);
        best.push_back(best_split(right));
    }
    std::vector<double> out(g.size());
    for (const auto& leaf : leaves) {
        double G = 0, H = 0;
        for (int r : leaf.rows) G += g[static_cast<size_t>(r)], H += h[static_cast<size_t>(r)];
        for (int r : leaf.rows) out[static_cast<size_t>(r)] = -p.learning_rate * G / (H + p.lambda_l2);
    }
    return out;
}

TEST(GbdtTree, OneTreeMatchesExactGreedyReference) {
    // Fewer distinct values than max_bin, so binning loses nothing.
    const int rows = 600;
    std::mt19937_64 rng(11);
    std::vector<std::vector<float>> cols(3, std::vector<float>(rows));
    std::vector<float> y(rows);
    for (int r = 0; r < rows; ++r) {
        for (auto& c : cols) c[static_cast<size_t>(r)] = static_cast<float>(rng() % 40) * 0.25f;
        const double logit = cols[0][static_cast<size_t>(r)] - 5.0 + 0.5 * cols[1][static_cast<size_t>(r)] * (cols[2][static_cast<size_t>(r)] > 4.0f);
        y[static_cast<size_t>(r)] = static_cast<double>(rng() % 10000) / 10000.0 < 1.0 / (1.0 + std::exp(-logit)) ? 1.0f : 0.0f;
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.num_leaves = 7;
    p.max_depth = 4;
    p.lambda_l2 = 1.0;
    p.min_data_in_leaf = 8;
    p.learning_rate = 0.3;
    const auto train = make_dataset(cols, y);
    const GbdtModel model = train_gbdt(train, nullptr, p);

    // The first tree's gradients: every row starts at the log-odds of the mean label.
    double mean = 0;
    for (float v : y) mean += v;
    mean /= rows;
    std::vector<double> g(rows), h(rows);
    for (int r = 0; r < rows; ++r) {
        g[static_cast<size_t>(r)] = static_cast<float>(mean - y[static_cast<size_t>(r)]);
        h[static_cast<size_t>(r)] = static_cast<float>(mean * (1 - mean));
    }
    const auto want = exact_tree_predictions(cols, g, h, p);
    ASSERT_EQ(model.trees()[0].num_leaves(), 7);
    const float* x = train.features.data<float>();
    for (int r = 0; r < rows; ++r) {
        const double got = model.trees()[0].leaf_value[static_cast<size_t>(model.trees()[0].leaf_index(x + r * 3))];
        ASSERT_NEAR(got, want[static_cast<size_t>(r)], 1e-6) << "row " << r;
    }
}

TEST(GbdtTree, RespectsNumLeavesAndMaxDepth) {
    const auto train = learnable_set(3000, 3);
    GbdtParams p = small_params();
    p.num_iterations = 5;
    p.num_leaves = 31;
    p.max_depth = 3;
    const GbdtModel model = train_gbdt(train, nullptr, p);
    for (const auto& tree : model.trees()) {
        EXPECT_LE(tree.num_leaves(), 8);
        // Depth of every leaf <= 3.
        std::vector<int> depth(tree.split_feature.size(), 0);
        for (size_t n = 0; n < tree.split_feature.size(); ++n)
            for (int32_t child : {tree.left_child[n], tree.right_child[n]})
                if (child >= 0) depth[static_cast<size_t>(child)] = depth[n] + 1;
        for (int d : depth) EXPECT_LT(d, 3);
    }
    p.max_depth = -1;
    p.num_leaves = 5;
    const GbdtModel small = train_gbdt(train, nullptr, p);
    for (const auto& tree : small.trees()) EXPECT_LE(tree.num_leaves(), 5);
}

// ---- Boosting ----

TEST(GbdtBoosting, TrainingLossFallsEveryIteration) {
    const auto train = learnable_set(4000, 1);
    GbdtParams p = small_params();
    p.num_iterations = 30;
    p.is_provide_training_metric = true;
    TrainingLog log;
    int calls = 0;
    train_gbdt(train, nullptr, p, &log, [&](const IterationRecord&) { ++calls; });
    ASSERT_EQ(log.records.size(), 30u);
    EXPECT_EQ(calls, 30);
    double previous = std::log(2.0);
    for (const auto& record : log.records) {
        const double loss = record.metrics.at("train_binary_logloss");
        EXPECT_LT(loss, previous) << "iteration " << record.iteration;
        previous = loss;
    }
    EXPECT_LT(previous, 0.5);
}

TEST(GbdtBoosting, LearnsAHeldOutSet) {
    const auto train = learnable_set(6000, 1), valid = learnable_set(2000, 2);
    GbdtParams p = small_params();
    p.num_iterations = 50;
    p.metric = "auc";
    TrainingLog log;
    const GbdtModel model = train_gbdt(train, &valid, p, &log);
    EXPECT_GT(log.records.back().metrics.at("valid_auc"), 0.8);
    const auto classes = model.predict(valid);
    const auto labels = valid.labels.to_vector<float>();
    int right = 0;
    for (size_t i = 0; i < classes.size(); ++i) right += classes[i] == static_cast<int>(labels[i]);
    EXPECT_GT(right, 0.7 * static_cast<double>(classes.size()));
}

TEST(GbdtBoosting, EarlyStoppingStopsAtTheRightRound) {
    // A small noisy validation set makes the validation loss turn upward.
    const auto train = learnable_set(1500, 4), valid = learnable_set(300, 5);
    GbdtParams p = small_params();
    p.num_iterations = 200;
    p.learning_rate = 0.3;
    p.num_leaves = 16;
    TrainingLog full;
    train_gbdt(train, &valid, p, &full);
    // The round the full curve says is best, and where patience runs out.
    size_t best = 0;
    for (size_t i = 1; i < full.records.size(); ++i)
        if (full.records[i].metrics.at("valid_binary_logloss") < full.records[best].metrics.at("valid_binary_logloss")) best = i;
    const int64_t patience = 10;
    ASSERT_LT(static_cast<int64_t>(best) + 1 + patience, p.num_iterations) << "the set should overfit before the end";

    p.early_stopping_round = patience;
    TrainingLog stopped;
    const GbdtModel model = train_gbdt(train, &valid, p, &stopped);
    EXPECT_EQ(stopped.best_iteration, static_cast<int64_t>(best) + 1);
    EXPECT_EQ(static_cast<int64_t>(stopped.records.size()), static_cast<int64_t>(best) + 1 + patience);
    EXPECT_EQ(model.num_trees(), static_cast<int64_t>(best) + 1);
    EXPECT_NE(stopped.stopped_reason.find("early stopping"), std::string::npos);
}

TEST(GbdtBoosting, BaggingAndFeatureFractionStillLearn) {
    const auto train = learnable_set(4000, 6), valid = learnable_set(1000, 7);
    GbdtParams p = small_params();
    p.num_iterations = 40;
    p.bagging_fraction = 0.5;
    p.bagging_freq = 1;
    p.feature_fraction = 0.5;
    p.metric = "auc";
    TrainingLog log;
    train_gbdt(train, &valid, p, &log);
    EXPECT_GT(log.records.back().metrics.at("valid_auc"), 0.75);
}

TEST(GbdtBoosting, IdenticalModelBytesForOneTwoAndThreeThreads) {
    const auto train = learnable_set(60000, 21);
    for (const bool quantized : {false, true}) {
        GbdtParams p = small_params();
        p.num_iterations = 8;
        p.num_leaves = 31;
        p.bagging_fraction = 0.7;
        p.bagging_freq = 2;
        p.feature_fraction = 0.75;
        p.use_quantized_grad = quantized;
        p.num_threads = 1;
        const auto one = train_gbdt(train, nullptr, p).to_bytes();
        for (const int64_t threads : {2, 3}) {
            p.num_threads = threads;
            EXPECT_TRUE(train_gbdt(train, nullptr, p).to_bytes() == one) << "quantized=" << quantized << " threads=" << threads;
        }
    }
}

TEST(GbdtQuantized, IdenticalModelBytesForAnyRowBlockSize) {
    const auto train = learnable_set(50000, 22);
    GbdtParams p = small_params();
    p.num_iterations = 8;
    p.num_leaves = 31;
    p.use_quantized_grad = true;
    for (const bool renew : {false, true}) {
        p.quant_train_renew_leaf = renew;
        p.histogram_block_rows = 8192;
        p.num_threads = 2;
        const auto reference = train_gbdt(train, nullptr, p).to_bytes();
        for (const int64_t block_rows : {1000, 3, 1 << 20}) {
            p.histogram_block_rows = block_rows;
            for (const int64_t threads : {1, 3}) {
                p.num_threads = threads;
                EXPECT_TRUE(train_gbdt(train, nullptr, p).to_bytes() == reference)
                    << "block rows " << block_rows << " renew " << renew;
            }
        }
    }
}

// The layout is how histograms are built, not what they hold.
TEST(GbdtBoosting, IdenticalModelBytesRowWiseAndColumnWise) {
    const auto train = learnable_set(30000, 23);
    for (const bool quantized : {false, true}) {
        GbdtParams p = small_params();
        p.num_iterations = 6;
        p.num_leaves = 31;
        p.use_quantized_grad = quantized;
        p.num_threads = 2;
        p.force_row_wise = true;
        const auto row_wise = train_gbdt(train, nullptr, p).to_bytes();
        p.force_row_wise = false;
        p.force_col_wise = true;
        EXPECT_TRUE(train_gbdt(train, nullptr, p).to_bytes() == row_wise) << "quantized=" << quantized;
        p.force_col_wise = false;
        // Automatic: row-wise histograms, partitions from a column copy.
        EXPECT_TRUE(train_gbdt(train, nullptr, p).to_bytes() == row_wise) << "quantized=" << quantized << " (automatic)";
    }
}

// Quantized training bundles features with few bins (the automatic layout):
// the integer sums, and so the model, are those of the unbundled features.
TEST(GbdtQuantized, BundledFeaturesGiveTheSameModel) {
    std::mt19937_64 rng(41);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const int64_t rows = 20000;
    // Four flags, a five-valued count and a continuous feature: 3 bundles of 6 features.
    std::vector<std::vector<float>> cols(6, std::vector<float>(static_cast<size_t>(rows)));
    std::vector<float> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        const auto i = static_cast<size_t>(r);
        double logit = 0.0;
        for (size_t f = 0; f < 4; ++f) {
            cols[f][i] = static_cast<float>(rng() % 2);
            logit += (static_cast<double>(f) - 1.5) * cols[f][i];
        }
        cols[4][i] = static_cast<float>(rng() % 5);
        cols[5][i] = u(rng);
        logit += 0.4 * cols[4][i] - 1.0 + 2.0 * std::sin(5.0 * cols[5][i]);
        y[i] = u(rng) < 1.0 / (1.0 + std::exp(-logit)) ? 1.0f : 0.0f;
    }
    const auto train = make_dataset(cols, y, {false, false, false, false, false, false});
    std::vector<int32_t> num_bins;
    for (const auto& f : gbdt::fit_feature_bins(train, 255, 200000, 1)) num_bins.push_back(f.num_bins());
    // The learner bundles when bundles <= 3/4 of the features.
    ASSERT_LE(4 * ops::bundle_features(num_bins).cells.size(), 3 * num_bins.size());
    GbdtParams p = small_params();
    p.num_iterations = 8;
    p.num_leaves = 15;
    p.use_quantized_grad = true;
    p.force_row_wise = true;
    const auto unbundled = train_gbdt(train, nullptr, p).to_bytes();
    p.force_row_wise = false;
    for (const int threads : {1, 3}) {
        p.num_threads = threads;
        EXPECT_TRUE(train_gbdt(train, nullptr, p).to_bytes() == unbundled) << "threads=" << threads;
    }
}

TEST(GbdtQuantized, SameTopSplitsAsFloat) {
    // Steps at known places (x0 at 0.3, x1 at 0.7, category 2), plus noise:
    // the top splits are clear, and rounding the gradients must not move them.
    std::mt19937_64 rng(23);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const int64_t rows = 20000;
    std::vector<std::vector<float>> cols(4, std::vector<float>(static_cast<size_t>(rows)));
    std::vector<float> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        const auto i = static_cast<size_t>(r);
        cols[0][i] = u(rng);
        cols[1][i] = u(rng);
        cols[2][i] = static_cast<float>(rng() % 5);
        cols[3][i] = u(rng);
        const double logit = (cols[0][i] > 0.3f ? 2.0 : -1.0) + (cols[1][i] > 0.7f ? -1.5 : 0.5) +
                             (cols[2][i] == 2.0f ? 1.0 : 0.0);
        y[i] = u(rng) < 1.0 / (1.0 + std::exp(-logit)) ? 1.0f : 0.0f;
    }
    const auto train = make_dataset(cols, y, {false, false, true, false});
    GbdtParams p = small_params();
    p.num_iterations = 3;
    p.num_leaves = 4;
    p.max_bin = 63;
    const GbdtModel exact = train_gbdt(train, nullptr, p);
    p.use_quantized_grad = true;
    for (const int64_t levels : {4, 16}) {
        p.num_grad_quant_bins = levels;
        const GbdtModel quantized = train_gbdt(train, nullptr, p);
        for (int64_t t = 0; t < exact.num_trees(); ++t) {
            const GbdtTree& a = exact.trees()[static_cast<size_t>(t)];
            const GbdtTree& b = quantized.trees()[static_cast<size_t>(t)];
            // The root and its first split: same feature, same threshold.
            for (size_t node = 0; node < 2; ++node) {
                EXPECT_EQ(a.split_feature[node], b.split_feature[node]) << "levels " << levels << " tree " << t << " node " << node;
                EXPECT_EQ(a.threshold[node], b.threshold[node]) << "levels " << levels << " tree " << t << " node " << node;
                EXPECT_EQ(a.categorical[node], b.categorical[node]);
            }
        }
    }
}

// The gradient op's (gradient, hessian) of a row with label 0 and this score.
std::pair<float, float> label_zero_gradient(double score) {
    Context ctx(Device::cpu, 1);
    Tensor g = Tensor::empty({1}, DType::f32), h = Tensor::empty({1}, DType::f32);
    Tensor scores = Tensor::empty({1}, DType::f64);
    scores.data<double>()[0] = score;
    ops::logloss_gradients(ctx, Tensor::zeros({1}, DType::f32), scores, g, h);
    return {g.data<float>()[0], h.data<float>()[0]};
}

TEST(GbdtQuantized, RenewedLeavesAreTheExactFloatOutputs) {
    const auto train = learnable_set(5000, 24);
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.use_quantized_grad = true;
    p.quant_train_renew_leaf = true;
    const GbdtModel model = train_gbdt(train, nullptr, p);
    // First iteration: every row's score is the initial one; recompute each
    // leaf's -sum(g) / sum(h) from the rows that fall into it.
    // The rows' gradients are the gradient op's at the initial score.
    const GbdtTree& tree = model.trees()[0];
    const std::pair<float, float> row = label_zero_gradient(model.init_score());
    const float prob = row.first, hessian = row.second;
    const auto leaves = static_cast<size_t>(tree.num_leaves());
    std::vector<double> g(leaves, 0.0);
    std::vector<double> h(leaves, 0.0);
    const float* x = train.features.data<float>();
    const float* y = train.labels.data<float>();
    for (int64_t r = 0; r < train.rows(); ++r) {
        const auto leaf = static_cast<size_t>(tree.leaf_index(x + r * train.num_features()));
        g[leaf] += prob - y[r];
        h[leaf] += hessian;
    }
    ASSERT_GT(tree.num_leaves(), 2);
    for (size_t l = 0; l < g.size(); ++l)
        EXPECT_NEAR(tree.leaf_value[l], -p.learning_rate * g[l] / h[l], 1e-9) << "leaf " << l;
    // Without renewal the outputs come from the rounded sums: close, not equal.
    p.quant_train_renew_leaf = false;
    const GbdtModel rounded = train_gbdt(train, nullptr, p);
    EXPECT_NE(rounded.trees()[0].leaf_value, tree.leaf_value);
}

TEST(GbdtQuantized, ManyLevelsTakeTheSixtyFourBitSumsAndStillLearn) {
    const auto train = learnable_set(6000, 25), valid = learnable_set(3000, 26);
    GbdtParams p = small_params();
    p.metric = "auc";
    p.num_iterations = 15;
    p.use_quantized_grad = true;
    p.num_grad_quant_bins = 16384;  // a leaf of 4 rows already overflows 16 bits
    TrainingLog wide;
    train_gbdt(train, &valid, p, &wide);
    p.use_quantized_grad = false;
    TrainingLog exact;
    train_gbdt(train, &valid, p, &exact);
    EXPECT_NEAR(wide.records.back().metrics.at("valid_auc"), exact.records.back().metrics.at("valid_auc"), 0.01);
}

TEST(GbdtBoosting, FeatureImportanceFavoursTheSignal) {
    const auto train = learnable_set(4000, 9);
    const GbdtModel model = train_gbdt(train, nullptr, small_params());
    for (auto type : {ImportanceType::split, ImportanceType::gain}) {
        const auto importance = model.feature_importance(type);
        ASSERT_EQ(importance.size(), 4u);
        EXPECT_GT(importance[0], importance[3]);  // feature 3 is pure noise
        EXPECT_GT(importance[2], importance[3]);
    }
    double splits = 0;
    for (const auto& tree : model.trees()) splits += static_cast<double>(tree.split_feature.size());
    const auto counts = model.feature_importance(ImportanceType::split);
    EXPECT_DOUBLE_EQ(counts[0] + counts[1] + counts[2] + counts[3], splits);
}

// ---- Model files ----

std::string temp_path(const std::string& name) {
    return test::scratch_path(name);
}

TEST(GbdtModelFile, SaveLoadGivesIdenticalPredictions) {
    const auto train = learnable_set(3000, 10), test = learnable_set(500, 11);
    const GbdtModel model = train_gbdt(train, nullptr, small_params());
    const std::string path = temp_path("roundtrip.skm");
    model.save(path);
    const GbdtModel loaded = GbdtModel::load(path);
    std::filesystem::remove(path);
    EXPECT_EQ(loaded.predict_proba(test), model.predict_proba(test));
    EXPECT_TRUE(loaded.to_bytes() == model.to_bytes());
    EXPECT_EQ(loaded.feature_names(), train.feature_names);
    EXPECT_EQ(loaded.categorical(), train.categorical);
    EXPECT_EQ(loaded.category_names(), train.category_names);
    EXPECT_EQ(loaded.params().num_leaves, 8);
    // The single-row path agrees with the batch path.
    const float* x = test.features.data<float>();
    const auto batch = model.predict_proba(test);
    for (int64_t r = 0; r < 20; ++r)
        EXPECT_EQ(loaded.predict_proba_row(std::span<const float>(x + r * 4, 4)), batch[static_cast<size_t>(r)]);
}

TEST(GbdtModelFile, CorruptOrForeignFilesAreRefused) {
    const GbdtModel model = train_gbdt(learnable_set(500, 12), nullptr, small_params());
    auto bytes = model.to_bytes();
    bytes[bytes.size() / 2] ^= 0x5a;
    EXPECT_THROW(GbdtModel::from_bytes(bytes, "flipped.skm"), FormatError);
    auto truncated = model.to_bytes();
    truncated.resize(truncated.size() - 9);
    EXPECT_THROW(GbdtModel::from_bytes(truncated, "truncated.skm"), FormatError);
    const std::string path = temp_path("garbage.skm");
    {
        std::ofstream out(path, std::ios::binary);
        out << "definitely not a model";
    }
    EXPECT_THROW(GbdtModel::load(path), FormatError);
    std::filesystem::remove(path);
    EXPECT_THROW(GbdtModel::load(temp_path("missing.skm")), Error);
}

TEST(GbdtModelFile, DataWithOtherColumnsIsRefusedNamingTheDifference) {
    const auto train = learnable_set(500, 13);
    const GbdtModel model = train_gbdt(train, nullptr, small_params());
    auto renamed = train;
    renamed.feature_names[2] = "genre";
    try {
        model.predict_proba(renamed);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("genre"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("f2"), std::string::npos) << e.what();
    }
    auto narrower = make_dataset({{1.0f}, {2.0f}, {3.0f}}, {1.0f});
    try {
        model.predict_proba(narrower);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("4 features"), std::string::npos) << e.what();
    }
    auto recoded = train;
    recoded.categorical[0] = true;
    EXPECT_THROW(model.predict_proba(recoded), Error);
}

// ---- Parameters ----

std::string param_error_name(const std::function<void()>& action) {
    try {
        action();
    } catch (const ParamError& e) {
        return e.name();
    }
    return "(no error)";
}

TEST(GbdtParams, DefaultsAreLightGbms) {
    const GbdtParams p;
    EXPECT_EQ(p.objective, "binary");
    EXPECT_DOUBLE_EQ(p.learning_rate, 0.1);
    EXPECT_EQ(p.num_iterations, 100);
    EXPECT_EQ(p.num_leaves, 31);
    EXPECT_EQ(p.max_depth, -1);
    EXPECT_EQ(p.min_data_in_leaf, 20);
    EXPECT_DOUBLE_EQ(p.min_sum_hessian_in_leaf, 1e-3);
    EXPECT_EQ(p.max_bin, 255);
    EXPECT_NO_THROW(validate_gbdt_params(p));
}

TEST(GbdtParams, AliasesSetTheSameField) {
    GbdtParams p;
    set_params(p, gbdt_param_table(), {{"n_estimators", "7"}, {"eta", "0.3"}, {"max_leaves", "9"}, {"subsample", "0.5"},
                                       {"colsample_bytree", "0.8"}, {"reg_lambda", "2"}, {"min_child_samples", "3"}});
    EXPECT_EQ(p.num_iterations, 7);
    EXPECT_DOUBLE_EQ(p.learning_rate, 0.3);
    EXPECT_EQ(p.num_leaves, 9);
    EXPECT_DOUBLE_EQ(p.bagging_fraction, 0.5);
    EXPECT_DOUBLE_EQ(p.feature_fraction, 0.8);
    EXPECT_DOUBLE_EQ(p.lambda_l2, 2.0);
    EXPECT_EQ(p.min_data_in_leaf, 3);
}

TEST(GbdtParams, BadParametersAreRefusedNamingThem) {
    GbdtParams p;
    const auto& table = gbdt_param_table();
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "num_leafs", "10"); }), "num_leafs");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "num_leaves", "1"); }), "num_leaves");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "learning_rate", "0"); }), "learning_rate");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "eta", "-1"); }), "learning_rate");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "feature_fraction", "1.5"); }), "feature_fraction");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "max_bin", "256"); }), "max_bin");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "objective", "regression"); }), "objective");
    EXPECT_EQ(param_error_name([&] { set_param(p, table, "num_iterations", "ten"); }), "num_iterations");

    const auto train = learnable_set(100, 14);
    GbdtParams bad;
    bad.num_leaves = 1;
    EXPECT_EQ(param_error_name([&] { train_gbdt(train, nullptr, bad); }), "num_leaves");
    GbdtParams no_valid;
    no_valid.early_stopping_round = 5;
    EXPECT_EQ(param_error_name([&] { train_gbdt(train, nullptr, no_valid); }), "early_stopping_round");
    GbdtParams both_layouts;
    both_layouts.force_col_wise = both_layouts.force_row_wise = true;
    EXPECT_EQ(param_error_name([&] { train_gbdt(train, nullptr, both_layouts); }), "force_col_wise");
}

TEST(GbdtData, BadTrainingDataIsRefused) {
    auto bad_labels = make_dataset({{1.0f, 2.0f, 3.0f}}, {0.0f, 2.0f, 1.0f});
    try {
        train_gbdt(bad_labels, nullptr, small_params());
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
    }
    auto no_names = make_dataset({{1.0f, 2.0f}}, {0.0f, 1.0f});
    no_names.feature_names.clear();
    EXPECT_THROW(train_gbdt(no_names, nullptr, small_params()), Error);
    const auto train = learnable_set(200, 15);
    auto other = make_dataset({{1.0f}, {2.0f}, {3.0f}, {4.0f}}, {1.0f});
    other.feature_names[3] = "extra";
    EXPECT_THROW(train_gbdt(train, &other, small_params()), Error);
}

TEST(GbdtQuantized, LevelsThatOverflowSixtyFourBitsAreRefused) {
    const int64_t rows = 262145;  // 16384 levels: 2^32 / 16384 = 262144 rows at most
    std::vector<float> x(static_cast<size_t>(rows)), y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        x[static_cast<size_t>(r)] = static_cast<float>(r % 100);
        y[static_cast<size_t>(r)] = r % 3 == 0 ? 1.0f : 0.0f;
    }
    GbdtParams p = small_params();
    p.num_iterations = 1;
    p.use_quantized_grad = true;
    p.num_grad_quant_bins = 16384;
    EXPECT_EQ(param_error_name([&] { train_gbdt(make_dataset({x}, y), nullptr, p); }), "num_grad_quant_bins");
}

}  // namespace
}  // namespace skipper
