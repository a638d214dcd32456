// The GBDT model loader against hostile files: each test starts from a small
// valid model file written by hand, changes one field, and re-serialises it, so
// the checksum is valid and the container parses: the loader itself must refuse
// the file with a FormatError naming the problem, never crash or over-allocate.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/serialize.h"
#include "tests/model_file_test_util.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/model_metadata.h"

namespace skipper {
namespace {

template <class T> Tensor vec(const std::vector<T>& v) { return Tensor::from_vector<T>(v, {static_cast<int64_t>(v.size())}); }

// Two features (f0 numeric, f1 categorical with a, b, c) and two trees:
//   tree 0: f0 <= 0.5 ? 1.0 : -1.0
//   tree 1: f1 in {a, c} ? (f0 <= -1 ? 0.1 : 0.2) : 0.3   (bitset word 0b101)
ModelFile valid_file() {
    ModelFile file;
    file.metadata["model"] = "gbdt";
    file.metadata["num_trees"] = "2";
    file.metadata["param.num_leaves"] = "3";
    write_feature_schema(file, {{"f0", "f1"}, {false, true}, {{}, {"a", "b", "c"}}});
    file.tensors["init_score"] = vec<double>({0.0});
    file.tensors["tree_node_offsets"] = vec<int32_t>({0, 1, 3});
    file.tensors["tree_leaf_offsets"] = vec<int32_t>({0, 2, 5});
    file.tensors["tree_bitset_offsets"] = vec<int32_t>({0, 0, 1});
    file.tensors["split_feature"] = vec<int32_t>({0, 1, 0});
    file.tensors["threshold"] = vec<double>({0.5, 0.0, -1.0});
    file.tensors["default_left"] = vec<uint8_t>({1, 0, 1});
    file.tensors["split_categorical"] = vec<uint8_t>({0, 1, 0});
    file.tensors["left_child"] = vec<int32_t>({-1, 1, -1});
    file.tensors["right_child"] = vec<int32_t>({-2, -3, -2});
    file.tensors["split_gain"] = vec<double>({1.0, 2.0, 3.0});
    file.tensors["cat_begin"] = vec<int32_t>({0, 0, 0});
    file.tensors["cat_words"] = vec<int32_t>({0, 1, 0});
    file.tensors["cat_bitsets"] = vec<int32_t>({5});
    file.tensors["leaf_value"] = vec<double>({1.0, -1.0, 0.1, 0.2, 0.3});
    return file;
}

// Sets element `i` of a stored 1-D tensor of T.
template <class T> void set(ModelFile& file, const std::string& name, size_t i, T value) {
    auto v = file.tensors.at(name).to_vector<T>();
    v.at(i) = value;
    file.tensors[name] = vec<T>(v);
}

TEST(GbdtHostileFile, TheHandWrittenFileIsValidAndPredictsAsDrawn) {
    const GbdtModel model = GbdtModel::from_bytes(serialize_model(valid_file()), "valid.skm");
    ASSERT_EQ(model.num_trees(), 2);
    const float a_low[] = {-2.0f, 0.0f}, c_mid[] = {0.0f, 2.0f}, b_high[] = {1.0f, 1.0f};
    EXPECT_DOUBLE_EQ(model.predict_raw_row(a_low), 1.0 + 0.1);
    EXPECT_DOUBLE_EQ(model.predict_raw_row(c_mid), 1.0 + 0.2);
    EXPECT_DOUBLE_EQ(model.predict_raw_row(b_high), -1.0 + 0.3);
}

TEST(GbdtHostileFile, EveryFieldOutOfRangeIsRefusedWithItsName) {
    constexpr int32_t kBig = std::numeric_limits<int32_t>::max();
    const std::vector<test::CraftedModelFile> cases = {
        // The attack of issue 13: one intermediate offset far past the arrays.
        {"node offset past the arrays", [](ModelFile& f) { set<int32_t>(f, "tree_node_offsets", 1, kBig); },
         "tree_node_offsets[1]"},
        {"leaf offset past the arrays", [](ModelFile& f) { set<int32_t>(f, "tree_leaf_offsets", 1, kBig); },
         "tree_leaf_offsets[1]"},
        {"bitset offset past the arrays", [](ModelFile& f) { set<int32_t>(f, "tree_bitset_offsets", 1, kBig); },
         "tree_bitset_offsets[1]"},
        {"negative node offset", [](ModelFile& f) { set<int32_t>(f, "tree_node_offsets", 1, -5); },
         "tree_node_offsets[1]"},
        {"offsets not starting at 0", [](ModelFile& f) { set<int32_t>(f, "tree_leaf_offsets", 0, 1); },
         "tree_leaf_offsets[0]"},
        {"offsets ending short", [](ModelFile& f) { set<int32_t>(f, "tree_bitset_offsets", 2, 0); },
         "tree_bitset_offsets ends at 0"},
        {"offset arrays of different lengths", [](ModelFile& f) { f.tensors["tree_leaf_offsets"] = vec<int32_t>({0, 5}); },
         "tree offset arrays disagree"},
        {"empty node offsets", [](ModelFile& f) { f.tensors["tree_node_offsets"] = vec<int32_t>({}); },
         "tree_node_offsets is empty"},
        {"a leaf too few", [](ModelFile& f) {
             f.tensors["tree_leaf_offsets"] = vec<int32_t>({0, 1, 5});
         }, "expected one leaf more than nodes"},
        {"num_trees disagreeing", [](ModelFile& f) { f.metadata["num_trees"] = "7"; }, "num_trees is 7"},
        {"feature past the schema", [](ModelFile& f) { set<int32_t>(f, "split_feature", 2, 2); },
         "splits on feature 2 of 2"},
        {"negative feature", [](ModelFile& f) { set<int32_t>(f, "split_feature", 0, -1); }, "splits on feature -1"},
        {"left child pointing back", [](ModelFile& f) { set<int32_t>(f, "left_child", 2, 0); }, "bad child 0"},
        {"right child pointing to itself", [](ModelFile& f) { set<int32_t>(f, "right_child", 1, 0); }, "bad child 0"},
        {"child past the tree", [](ModelFile& f) { set<int32_t>(f, "left_child", 1, 2); }, "bad child 2"},
        {"leaf past the tree", [](ModelFile& f) { set<int32_t>(f, "right_child", 0, -3); }, "bad child -3"},
        {"leaf index at INT_MIN", [](ModelFile& f) {
             set<int32_t>(f, "right_child", 0, std::numeric_limits<int32_t>::min());
         }, "bad child"},
        {"negative category start", [](ModelFile& f) { set<int32_t>(f, "cat_begin", 1, -1); }, "bad category set"},
        {"category words past the tree's bitsets", [](ModelFile& f) { set<int32_t>(f, "cat_words", 1, 2); },
         "bad category set"},
        {"category start and words whose sum wraps", [](ModelFile& f) {
             set<int32_t>(f, "cat_begin", 1, kBig);
             set<int32_t>(f, "cat_words", 1, kBig);
         }, "bad category set"},
        {"categorical flag without words", [](ModelFile& f) { set<uint8_t>(f, "split_categorical", 0, 1); },
         "bad category set"},
        {"node arrays of different lengths", [](ModelFile& f) { f.tensors["threshold"] = vec<double>({0.5}); },
         "node arrays disagree"},
        {"a short child array", [](ModelFile& f) { f.tensors["left_child"] = vec<int32_t>({-1}); },
         "node arrays disagree"},
        {"init_score of two values", [](ModelFile& f) { f.tensors["init_score"] = vec<double>({0.0, 1.0}); },
         "init_score must hold one value"},
        {"wrong dtype", [](ModelFile& f) { f.tensors["leaf_value"] = vec<float>({1, -1, 0.1f, 0.2f, 0.3f}); },
         "tensor 'leaf_value' has the wrong type"},
        {"wrong rank", [](ModelFile& f) {
             f.tensors["split_feature"] = Tensor::from_vector<int32_t>({0, 1, 0}, {3, 1});
         }, "tensor 'split_feature' has the wrong type or shape"},
        {"missing tensor", [](ModelFile& f) { f.tensors.erase("cat_bitsets"); }, "missing tensor 'cat_bitsets'"},
        {"another model kind", [](ModelFile& f) { f.metadata["model"] = "lstm"; }, "not a GBDT model"},
        {"stored parameter out of range", [](ModelFile& f) { f.metadata["param.num_leaves"] = "-4"; },
         "bad stored parameter"},
        {"feature names that are not JSON", [](ModelFile& f) { f.metadata["feature_names"] = "[\"f0\","; },
         "bad feature metadata"},
        {"schema lists of different lengths", [](ModelFile& f) { f.metadata["categorical"] = "[false]"; },
         "feature metadata lists disagree"},
    };
    test::expect_each_crafted_file_refused(valid_file, cases, [](const std::vector<uint8_t>& bytes, const char* name) {
        GbdtModel::from_bytes(bytes, name);
    });
}

}  // namespace
}  // namespace skipper
