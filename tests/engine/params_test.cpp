#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "engine/error.h"
#include "engine/params.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

struct ToyParams {
    double learning_rate = 0.1;
    int64_t num_leaves = 31;
    bool verbose = false;
    std::string objective = "binary";
};

const std::vector<ParamSpec<ToyParams>>& toy_table() {
    static const std::vector<ParamSpec<ToyParams>> table = {
        {"learning_rate", &ToyParams::learning_rate, 1e-6, 10.0, {}, "shrinkage", {"eta"}},
        {"num_leaves", &ToyParams::num_leaves, 2, 131072, {}, "leaves per tree"},
        {"verbose", &ToyParams::verbose, 0, 0, {}, "log more"},
        {"objective", &ToyParams::objective, 0, 0, {"binary"}, "loss"},
    };
    return table;
}

TEST(Params, SetsValuesAndAliases) {
    ToyParams p;
    set_params(p, toy_table(), parse_key_values({"eta=0.05", "num_leaves=63", "verbose=true"}));
    EXPECT_DOUBLE_EQ(p.learning_rate, 0.05);
    EXPECT_EQ(p.num_leaves, 63);
    EXPECT_TRUE(p.verbose);
    EXPECT_EQ(params_to_map(p, toy_table()).at("num_leaves"), "63");
}

TEST(Params, ErrorsNameTheParameter) {
    ToyParams p;
    try {
        set_param(p, toy_table(), "num_leafs", "3");
        FAIL();
    } catch (const ParamError& e) {
        EXPECT_EQ(e.name(), "num_leafs");
        EXPECT_NE(std::string(e.what()).find("unknown parameter"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("num_leaves"), std::string::npos);
    }
    EXPECT_THROW(set_param(p, toy_table(), "num_leaves", "1"), ParamError);
    EXPECT_THROW(set_param(p, toy_table(), "num_leaves", "3.5"), ParamError);
    EXPECT_THROW(set_param(p, toy_table(), "learning_rate", "fast"), ParamError);
    EXPECT_THROW(set_param(p, toy_table(), "learning_rate", "nan"), ParamError);
    EXPECT_THROW(set_param(p, toy_table(), "objective", "regression"), ParamError);
    EXPECT_THROW(set_param(p, toy_table(), "verbose", "yes"), ParamError);
    EXPECT_THROW(parse_key_values({"learning_rate"}), ParamError);
}

TEST(Params, ConfigFileWithCommentsAndLineNumbers) {
    const std::string path = test::scratch_path("params.conf");
    {
        std::ofstream out(path);
        out << "# a LightGBM-style config\nlearning_rate = 0.2  # shrink\n\nnum_leaves=7\n";
    }
    ToyParams p;
    set_params(p, toy_table(), read_config_file(path));
    EXPECT_DOUBLE_EQ(p.learning_rate, 0.2);
    EXPECT_EQ(p.num_leaves, 7);
    {
        std::ofstream out(path);
        out << "num_leaves=7\nthis line is wrong\n";
    }
    try {
        read_config_file(path);
        FAIL();
    } catch (const DataError& e) {
        EXPECT_EQ(e.line(), 2);
    }
    std::remove(path.c_str());
}

TEST(Params, HelpListsEveryParameterWithDefaultAndRange) {
    const std::string help = params_help(toy_table());
    EXPECT_NE(help.find("learning_rate=0.1"), std::string::npos);
    EXPECT_NE(help.find("[2, 131072]"), std::string::npos);
    EXPECT_NE(help.find("objective=binary"), std::string::npos);
    EXPECT_NE(help.find("leaves per tree"), std::string::npos);
}

}  // namespace
}  // namespace skipper
