// The LSTM model loader against hostile files: each test starts from a small
// valid model file written by hand, changes one field, and re-serialises it, so
// the checksum is valid and the container parses: the loader itself must refuse
// the file with a FormatError naming the problem, and must not build anything
// from the file's declared sizes before every weight has been checked.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"
#include "tests/model_file_test_util.h"
#include "tests/test_util.h"
#include "trainer/lstm/lstm.h"
#include "trainer/lstm/network.h"
#include "trainer/model_metadata.h"

namespace skipper {
namespace {

LstmParams small_params() {
    LstmParams p;
    p.arch = "session";
    p.hidden_size = 3;
    p.num_layers = 2;
    p.bidirectional = true;
    return p;
}

lstm::LstmArchitecture small_architecture() {
    lstm::LstmArchitecture arch;
    arch.input_size = 2;
    arch.hidden_size = 3;
    arch.num_layers = 2;
    arch.bidirectional = true;
    arch.output_every_step = true;
    return arch;
}

// A session model over two features, hidden 3, two bidirectional layers.
ModelFile valid_file() {
    ModelFile file;
    file.metadata["learner"] = "lstm";
    file.metadata["model"] = "lstm";
    file.metadata["arch"] = "session";
    write_stored_params(file, small_params(), lstm_param_table());
    file.metadata["input_size"] = "2";
    write_feature_schema(file, {{"f0", "f1"}, {false, false}, {{}, {}}});
    file.tensors["feature_mean"] = Tensor::from_vector<double>({0.5, -0.5}, {2});
    file.tensors["feature_scale"] = Tensor::from_vector<double>({2.0, 1.0}, {2});
    uint64_t seed = 1;
    for (const auto& spec : lstm::parameter_specs(small_architecture()))
        file.tensors["weight." + spec.name] = test::random_tensor<float>(spec.shape, seed++);
    return file;
}

long max_rss_kb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

TEST(LstmHostileFile, ParameterSpecsAreTheNetworksOwnNamesAndShapes) {
    for (const bool bidirectional : {false, true})
        for (const int64_t layers : {1, 3}) {
            lstm::LstmArchitecture arch = small_architecture();
            arch.bidirectional = bidirectional;
            arch.num_layers = layers;
            arch.input_size = 5;
            const lstm::LstmNetwork net(arch, DType::f32, Device::cpu, 1);
            const auto specs = lstm::parameter_specs(arch);
            ASSERT_EQ(specs.size(), net.parameter_names().size());
            for (size_t i = 0; i < specs.size(); ++i) {
                EXPECT_EQ(specs[i].name, net.parameter_names()[i]);
                EXPECT_EQ(specs[i].shape, net.parameter_shape(specs[i].name)) << specs[i].name;
            }
        }
}

TEST(LstmHostileFile, TheHandWrittenFileLoadsWithItsWeights) {
    const ModelFile file = valid_file();
    const LstmModel model = LstmModel::from_bytes(serialize_model(file), "valid.skm");
    EXPECT_EQ(model.params().hidden_size, 3);
    EXPECT_EQ(model.feature_names(), (std::vector<std::string>{"f0", "f1"}));
    for (const auto& spec : lstm::parameter_specs(small_architecture()))
        EXPECT_EQ(model.weights().at(spec.name).to_vector<float>(),
                  file.tensors.at("weight." + spec.name).to_vector<float>())
            << spec.name;
}

// The attack of issue 13: a few-KB file declaring the largest network the
// parameter table allows (hidden 4096, 16 bidirectional layers: tens of GB).
TEST(LstmHostileFile, HugeDeclaredSizesAreRefusedBeforeAnyAllocation) {
    ModelFile file = valid_file();
    file.metadata["param.hidden_size"] = "4096";
    file.metadata["param.num_layers"] = "16";
    const std::vector<uint8_t> bytes = serialize_model(file);
    ASSERT_LT(bytes.size(), 8192u);
    const long before = max_rss_kb();
    try {
        LstmModel::from_bytes(bytes, "huge.skm");
        FAIL() << "loaded";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("weight 'weight_ih_l0' must be f32[16384, 2]"), std::string::npos)
            << e.what();
    }
    EXPECT_LT(max_rss_kb() - before, 64 * 1024) << "the loader allocated from the declared sizes";
}

TEST(LstmHostileFile, EveryFieldOutOfRangeIsRefusedWithItsName) {
    const std::vector<test::CraftedModelFile> cases = {
        {"hidden size larger than the weights", [](ModelFile& f) { f.metadata["param.hidden_size"] = "4"; },
         "weight 'weight_ih_l0' must be f32[16, 2]"},
        {"more layers than the weights", [](ModelFile& f) { f.metadata["param.num_layers"] = "3"; },
         "missing weight 'weight_ih_l2'"},
        {"one direction fewer than the weights", [](ModelFile& f) { f.metadata["param.bidirectional"] = "false"; },
         "weight 'weight_ih_l1' must be f32[12, 3]"},
        {"hidden size out of range", [](ModelFile& f) { f.metadata["param.hidden_size"] = "0"; },
         "bad stored parameter"},
        {"layers out of range", [](ModelFile& f) { f.metadata["param.num_layers"] = "100000"; },
         "bad stored parameter"},
        {"a missing weight", [](ModelFile& f) { f.tensors.erase("weight.weight_hh_l1_reverse"); },
         "missing weight 'weight_hh_l1_reverse'"},
        {"a weight of the wrong shape", [](ModelFile& f) {
             f.tensors["weight.bias_l0"] = Tensor::zeros({13}, DType::f32);
         }, "weight 'bias_l0' must be f32[12]"},
        {"a weight of the wrong dtype", [](ModelFile& f) {
             f.tensors["weight.fc.bias"] = Tensor::zeros({1}, DType::f64);
         }, "weight 'fc.bias' must be f32[1]"},
        {"a weight of no architecture", [](ModelFile& f) {
             f.tensors["weight.weight_ih_l7"] = Tensor::zeros({12, 6}, DType::f32);
         }, "unknown weight 'weight_ih_l7'"},
        {"input size that is not a number", [](ModelFile& f) { f.metadata["input_size"] = "2x"; },
         "bad input_size '2x'"},
        {"input size past int64", [](ModelFile& f) { f.metadata["input_size"] = "99999999999999999999"; },
         "bad input_size"},
        {"input size disagreeing with the features", [](ModelFile& f) { f.metadata["input_size"] = "3"; },
         "input_size 3 does not fit arch=session with 2 features"},
        {"missing input size", [](ModelFile& f) { f.metadata.erase("input_size"); }, "missing metadata 'input_size'"},
        {"feature means of another length", [](ModelFile& f) {
             f.tensors["feature_mean"] = Tensor::from_vector<double>({0.0}, {1});
         }, "tensor 'feature_mean' must be f64[2]"},
        {"missing feature scales", [](ModelFile& f) { f.tensors.erase("feature_scale"); },
         "missing tensor 'feature_scale'"},
        {"another learner", [](ModelFile& f) { f.metadata["learner"] = "gbdt"; }, "not an LSTM model"},
        {"an unknown arch", [](ModelFile& f) { f.metadata["param.arch"] = "transformer"; }, "bad stored parameter"},
        {"schema lists of different lengths", [](ModelFile& f) { f.metadata["category_names"] = "[[]]"; },
         "feature metadata lists disagree"},
    };
    test::expect_each_crafted_file_refused(valid_file, cases, [](const std::vector<uint8_t>& bytes, const char* name) {
        LstmModel::from_bytes(bytes, name);
    });
}

}  // namespace
}  // namespace skipper
