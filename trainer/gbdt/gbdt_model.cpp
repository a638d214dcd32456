// GbdtModel: prediction, feature importance and the model file.
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/serialize.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/model_metadata.h"

namespace skipper {

namespace {

constexpr const char* kModelKind = "gbdt";

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <class T> Tensor vector_tensor(const std::vector<T>& values) {
    return Tensor::from_vector<T>(values, {static_cast<int64_t>(values.size())});
}

// A stored tensor as a vector, refusing a wrong dtype or rank.
template <class T> std::vector<T> read_vector(const ModelFile& file, const std::string& name, const std::string& origin) {
    const auto it = file.tensors.find(name);
    if (it == file.tensors.end()) throw FormatError(origin, "missing tensor '" + name + "'");
    const Tensor& t = it->second;
    if (t.dtype() != dtype_of<T>() || t.dim() != 1)
        throw FormatError(origin, "tensor '" + name + "' has the wrong type or shape: " + t.describe());
    return t.to_vector<T>();
}

}  // namespace

int32_t GbdtTree::leaf_index(const float* row) const {
    if (split_feature.empty()) return 0;
    int32_t node = 0;
    while (true) {
        const auto n = static_cast<size_t>(node);
        const float value = row[split_feature[n]];
        bool left;
        if (categorical[n]) {
            // NaN, negative and codes past the bitset go right.
            left = false;
            if (value >= 0.0f && value < 32.0f * static_cast<float>(cat_words[n])) {
                const auto code = static_cast<int64_t>(value);
                left = (cat_bitsets[static_cast<size_t>(cat_begin[n] + code / 32)] >> (code % 32)) & 1u;
            }
        } else {
            left = std::isnan(value) ? default_left[n] != 0 : static_cast<double>(value) <= threshold[n];
        }
        const int32_t next = left ? left_child[n] : right_child[n];
        if (next < 0) return ~next;
        node = next;
    }
}

double GbdtModel::predict_raw_row(std::span<const float> row) const {
    if (static_cast<int64_t>(row.size()) != num_features())
        throw Error("predict: a row of " + std::to_string(row.size()) + " values for a model of " +
                    std::to_string(num_features()) + " features");
    double score = init_score_;
    for (const GbdtTree& tree : trees_) score += tree.leaf_value[static_cast<size_t>(tree.leaf_index(row.data()))];
    return score;
}

double GbdtModel::predict_proba_row(std::span<const float> row) const { return sigmoid(predict_raw_row(row)); }

std::vector<double> GbdtModel::predict_raw(const Tensor& features) const {
    if (!features.defined() || features.dim() != 2 || features.dtype() != DType::f32 ||
        features.device() != Device::cpu || features.size(1) != num_features())
        throw Error("predict: expected an f32 host matrix [rows, " + std::to_string(num_features()) + "], got " +
                    (features.defined() ? features.describe() : std::string("none")));
    const int64_t rows = features.size(0), width = features.size(1);
    const float* x = features.data<float>();
    std::vector<double> out(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        double score = init_score_;
        for (const GbdtTree& tree : trees_)
            score += tree.leaf_value[static_cast<size_t>(tree.leaf_index(x + r * width))];
        out[static_cast<size_t>(r)] = score;
    }
    return out;
}

std::vector<double> GbdtModel::predict_proba(const Tensor& features) const {
    std::vector<double> out = predict_raw(features);
    for (double& v : out) v = sigmoid(v);
    return out;
}

std::vector<double> GbdtModel::predict_proba(const data::TabularDataset& data) const {
    check_compatible(data);
    return predict_proba(data.features);
}

std::vector<int32_t> GbdtModel::predict(const data::TabularDataset& data, double threshold) const {
    const std::vector<double> p = predict_proba(data);
    std::vector<int32_t> out(p.size());
    for (size_t i = 0; i < p.size(); ++i) out[i] = p[i] > threshold ? 1 : 0;
    return out;
}

std::vector<double> GbdtModel::feature_importance(ImportanceType type) const {
    std::vector<double> out(static_cast<size_t>(num_features()), 0.0);
    for (const GbdtTree& tree : trees_)
        for (size_t n = 0; n < tree.split_feature.size(); ++n)
            out[static_cast<size_t>(tree.split_feature[n])] += type == ImportanceType::split ? 1.0 : tree.split_gain[n];
    return out;
}

void GbdtModel::check_compatible(const data::TabularDataset& data) const {
    const int64_t features = data.num_features();
    if (features != num_features())
        throw Error("the model was trained on " + std::to_string(num_features()) + " features but the data has " +
                    std::to_string(features));
    for (int64_t f = 0; f < features; ++f) {
        const auto i = static_cast<size_t>(f);
        if (data.feature_names[i] != feature_names_[i])
            throw Error("feature " + std::to_string(f) + " is '" + data.feature_names[i] + "' in the data but '" +
                        feature_names_[i] + "' in the model");
        if (i < data.categorical.size() && data.categorical[i] != categorical_[i])
            throw Error("feature '" + feature_names_[i] + "' is " + (categorical_[i] ? "categorical" : "numeric") +
                        " in the model but " + (data.categorical[i] ? "categorical" : "numeric") + " in the data");
    }
    if (data.features.defined() && (data.features.dim() != 2 || data.features.size(1) != features))
        throw Error("the data's feature matrix " + data.features.describe() + " does not have " +
                    std::to_string(features) + " columns");
}

std::vector<uint8_t> GbdtModel::to_bytes() const {
    ModelFile file;
    file.metadata["model"] = kModelKind;
    // num_threads is how a run was executed, not what it learned: leaving it out
    // keeps the bytes identical for any thread count.
    write_stored_params(file, params_, gbdt_param_table(), {"num_threads", "histogram_block_rows", "force_col_wise", "force_row_wise"});
    write_feature_schema(file, {feature_names_, std::vector<bool>(categorical_.begin(), categorical_.end()),
                                category_names_});
    file.metadata["num_trees"] = std::to_string(trees_.size());

    std::vector<int32_t> node_offsets{0}, leaf_offsets{0}, bitset_offsets{0};
    std::vector<int32_t> split_feature, left_child, right_child, cat_begin, cat_words, cat_bitsets;
    std::vector<double> threshold, split_gain, leaf_value;
    std::vector<uint8_t> default_left, categorical;
    for (const GbdtTree& t : trees_) {
        split_feature.insert(split_feature.end(), t.split_feature.begin(), t.split_feature.end());
        threshold.insert(threshold.end(), t.threshold.begin(), t.threshold.end());
        default_left.insert(default_left.end(), t.default_left.begin(), t.default_left.end());
        categorical.insert(categorical.end(), t.categorical.begin(), t.categorical.end());
        left_child.insert(left_child.end(), t.left_child.begin(), t.left_child.end());
        right_child.insert(right_child.end(), t.right_child.begin(), t.right_child.end());
        split_gain.insert(split_gain.end(), t.split_gain.begin(), t.split_gain.end());
        cat_begin.insert(cat_begin.end(), t.cat_begin.begin(), t.cat_begin.end());
        cat_words.insert(cat_words.end(), t.cat_words.begin(), t.cat_words.end());
        for (uint32_t w : t.cat_bitsets) cat_bitsets.push_back(static_cast<int32_t>(w));
        leaf_value.insert(leaf_value.end(), t.leaf_value.begin(), t.leaf_value.end());
        node_offsets.push_back(static_cast<int32_t>(split_feature.size()));
        leaf_offsets.push_back(static_cast<int32_t>(leaf_value.size()));
        bitset_offsets.push_back(static_cast<int32_t>(cat_bitsets.size()));
    }
    file.tensors["init_score"] = vector_tensor(std::vector<double>{init_score_});
    file.tensors["tree_node_offsets"] = vector_tensor(node_offsets);
    file.tensors["tree_leaf_offsets"] = vector_tensor(leaf_offsets);
    file.tensors["tree_bitset_offsets"] = vector_tensor(bitset_offsets);
    file.tensors["split_feature"] = vector_tensor(split_feature);
    file.tensors["threshold"] = vector_tensor(threshold);
    file.tensors["default_left"] = vector_tensor(default_left);
    file.tensors["split_categorical"] = vector_tensor(categorical);
    file.tensors["left_child"] = vector_tensor(left_child);
    file.tensors["right_child"] = vector_tensor(right_child);
    file.tensors["split_gain"] = vector_tensor(split_gain);
    file.tensors["cat_begin"] = vector_tensor(cat_begin);
    file.tensors["cat_words"] = vector_tensor(cat_words);
    file.tensors["cat_bitsets"] = vector_tensor(cat_bitsets);
    file.tensors["leaf_value"] = vector_tensor(leaf_value);
    return serialize_model(file);
}

GbdtModel GbdtModel::from_bytes(const std::vector<uint8_t>& bytes, const std::string& origin) {
    const ModelFile file = deserialize_model(bytes, origin);
    auto fail = [&](const std::string& what) -> FormatError { return FormatError(origin, what); };
    if (file.metadata.count("model") == 0 || file.meta("model") != kModelKind)
        throw fail("not a GBDT model (model kind '" + (file.metadata.count("model") ? file.meta("model") : "") + "')");

    GbdtModel model;
    read_stored_params(file, model.params_, gbdt_param_table(), origin);
    FeatureSchema schema = read_feature_schema(file, origin);
    model.feature_names_ = std::move(schema.names);
    model.categorical_.assign(schema.categorical.begin(), schema.categorical.end());
    model.category_names_ = std::move(schema.category_names);
    const size_t features = model.feature_names_.size();

    const auto init = read_vector<double>(file, "init_score", origin);
    if (init.size() != 1) throw fail("init_score must hold one value");
    model.init_score_ = init[0];
    const auto node_offsets = read_vector<int32_t>(file, "tree_node_offsets", origin);
    const auto leaf_offsets = read_vector<int32_t>(file, "tree_leaf_offsets", origin);
    const auto bitset_offsets = read_vector<int32_t>(file, "tree_bitset_offsets", origin);
    const auto split_feature = read_vector<int32_t>(file, "split_feature", origin);
    const auto threshold = read_vector<double>(file, "threshold", origin);
    const auto default_left = read_vector<uint8_t>(file, "default_left", origin);
    const auto categorical = read_vector<uint8_t>(file, "split_categorical", origin);
    const auto left_child = read_vector<int32_t>(file, "left_child", origin);
    const auto right_child = read_vector<int32_t>(file, "right_child", origin);
    const auto split_gain = read_vector<double>(file, "split_gain", origin);
    const auto cat_begin = read_vector<int32_t>(file, "cat_begin", origin);
    const auto cat_words = read_vector<int32_t>(file, "cat_words", origin);
    const auto cat_bitsets = read_vector<int32_t>(file, "cat_bitsets", origin);
    const auto leaf_value = read_vector<double>(file, "leaf_value", origin);

    // Every count, offset and index below comes from the file: each is bounded
    // against the arrays (in 64-bit arithmetic, so no sum can wrap) before any
    // tree is built, and a tree's walk can only visit its own nodes, leaves and
    // bitset words.
    const auto nodes = static_cast<int64_t>(split_feature.size());
    for (const auto* v : {&left_child, &right_child, &cat_begin, &cat_words})
        if (static_cast<int64_t>(v->size()) != nodes) throw fail("node arrays disagree in length");
    if (static_cast<int64_t>(threshold.size()) != nodes || static_cast<int64_t>(default_left.size()) != nodes ||
        static_cast<int64_t>(categorical.size()) != nodes || static_cast<int64_t>(split_gain.size()) != nodes)
        throw fail("node arrays disagree in length");
    if (node_offsets.empty()) throw fail("tree_node_offsets is empty");
    const size_t trees = node_offsets.size() - 1;
    if (leaf_offsets.size() != trees + 1 || bitset_offsets.size() != trees + 1)
        throw fail("tree offset arrays disagree in length");
    if (file.metadata.count("num_trees") != 0 && file.meta("num_trees") != std::to_string(trees))
        throw fail("num_trees is " + file.meta("num_trees") + " but the offsets list " + std::to_string(trees) +
                   " trees");
    // Offsets start at 0, never decrease, and end exactly at their array's end.
    auto check_offsets = [&](const std::vector<int32_t>& offsets, int64_t size, const char* name) {
        if (offsets[0] != 0) throw fail(std::string(name) + "[0] is " + std::to_string(offsets[0]) + ", expected 0");
        for (size_t t = 1; t <= trees; ++t)
            if (offsets[t] < offsets[t - 1] || offsets[t] > size)
                throw fail(std::string(name) + "[" + std::to_string(t) + "] = " + std::to_string(offsets[t]) +
                           " is outside [" + std::to_string(offsets[t - 1]) + ", " + std::to_string(size) + "]");
        if (offsets[trees] != size)
            throw fail(std::string(name) + " ends at " + std::to_string(offsets[trees]) + ", expected " +
                       std::to_string(size));
    };
    check_offsets(node_offsets, nodes, "tree_node_offsets");
    check_offsets(leaf_offsets, static_cast<int64_t>(leaf_value.size()), "tree_leaf_offsets");
    check_offsets(bitset_offsets, static_cast<int64_t>(cat_bitsets.size()), "tree_bitset_offsets");
    for (size_t t = 0; t < trees; ++t) {
        const int64_t count = node_offsets[t + 1] - int64_t{node_offsets[t]};
        const int64_t leaves = leaf_offsets[t + 1] - int64_t{leaf_offsets[t]};
        const int64_t words = bitset_offsets[t + 1] - int64_t{bitset_offsets[t]};
        const std::string tree_name = "tree " + std::to_string(t);
        if (leaves != count + 1)
            throw fail(tree_name + " has " + std::to_string(count) + " nodes and " + std::to_string(leaves) +
                       " leaves, expected one leaf more than nodes");
        for (int64_t i = 0; i < count; ++i) {
            const auto n = static_cast<size_t>(node_offsets[t] + i);
            const std::string node_name = tree_name + " node " + std::to_string(i);
            const int32_t feature = split_feature[n];
            if (feature < 0 || static_cast<size_t>(feature) >= features)
                throw fail(node_name + " splits on feature " + std::to_string(feature) + " of " +
                           std::to_string(features));
            // Children come after their parent, so every walk ends at a leaf.
            for (const int32_t child : {left_child[n], right_child[n]})
                if (child >= 0 ? (child <= i || child >= count) : (~int64_t{child} >= leaves))
                    throw fail(node_name + " has a bad child " + std::to_string(child));
            if (cat_words[n] < 0 || cat_begin[n] < 0 || int64_t{cat_begin[n]} + cat_words[n] > words ||
                (categorical[n] != 0) != (cat_words[n] > 0))
                throw fail(node_name + " has a bad category set (begin " + std::to_string(cat_begin[n]) + ", " +
                           std::to_string(cat_words[n]) + " words of the tree's " + std::to_string(words) + ")");
        }
    }

    // Validated: build the trees.
    model.trees_.reserve(trees);
    for (size_t t = 0; t < trees; ++t) {
        const auto n0 = static_cast<size_t>(node_offsets[t]), n1 = static_cast<size_t>(node_offsets[t + 1]);
        const auto l0 = static_cast<size_t>(leaf_offsets[t]), l1 = static_cast<size_t>(leaf_offsets[t + 1]);
        const auto b0 = static_cast<size_t>(bitset_offsets[t]), b1 = static_cast<size_t>(bitset_offsets[t + 1]);
        GbdtTree tree;
        auto part = [&](const auto& all) { return std::vector(all.begin() + n0, all.begin() + n1); };
        tree.split_feature = part(split_feature);
        tree.threshold = part(threshold);
        tree.default_left = part(default_left);
        tree.categorical = part(categorical);
        tree.left_child = part(left_child);
        tree.right_child = part(right_child);
        tree.split_gain = part(split_gain);
        tree.cat_begin = part(cat_begin);
        tree.cat_words = part(cat_words);
        for (size_t w = b0; w < b1; ++w) tree.cat_bitsets.push_back(static_cast<uint32_t>(cat_bitsets[w]));
        tree.leaf_value.assign(leaf_value.begin() + static_cast<std::ptrdiff_t>(l0),
                               leaf_value.begin() + static_cast<std::ptrdiff_t>(l1));
        model.trees_.push_back(std::move(tree));
    }
    return model;
}

void GbdtModel::save(const std::string& path) const {
    const std::vector<uint8_t> bytes = to_bytes();
    write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

GbdtModel GbdtModel::load(const std::string& path) {
    const ModelFile file = load_model_file(path);
    // load_model_file has verified the container; re-serialising it keeps one parser.
    return from_bytes(serialize_model(file), path);
}

}  // namespace skipper
