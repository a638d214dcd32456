// The LSTM network: a forward pass worked out by hand, Keras's bidirectional
// last-state semantics with padding, and a double-precision finite-difference
// check of every parameter and the input of small 2-layer bidirectional
// models with a padding mask.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "tests/test_util.h"
#include "trainer/lstm/network.h"

namespace skipper {
namespace {

using lstm::LstmArchitecture;
using lstm::LstmNetwork;
using test::all_close;

// One unit, one feature, two steps, forward only; the numbers below were
// worked out step by step (i, f, g, o, c, h):
//   t=0, x=1:  0.622459, 0.622459, 0.244919, 0.622459, c=0.152452, h=0.094167
//   t=1, x=-2: 0.270797, 0.882760, -0.439612, 0.078541, c=0.015533, h=0.001220
//   logit = 2 h - 1 = -0.997560; loss for label 1 = -log(sigmoid(logit)) = 1.311479.
TEST(LstmNetwork, TinyForwardComputedByHand) {
    LstmArchitecture arch{1, 1, 1, false, false};
    LstmNetwork net(arch, DType::f64, Device::cpu, 1);
    net.set_parameter("weight_ih_l0", Tensor::from_vector<double>({0.5, -0.5, 0.25, 1.0}, {4, 1}));
    net.set_parameter("weight_hh_l0", Tensor::from_vector<double>({0.1, 0.2, 0.3, 0.4}, {4, 1}));
    net.set_parameter("bias_l0", Tensor::from_vector<double>({0.0, 1.0, 0.0, -0.5}, {4}));
    net.set_parameter("fc.weight", Tensor::from_vector<double>({2.0}, {1, 1}));
    net.set_parameter("fc.bias", Tensor::from_vector<double>({-1.0}, {1}));
    auto& batch = net.batch(2, 1);
    batch.inputs.copy_from(Tensor::from_vector<double>({1.0, -2.0}, {2, 1, 1}));
    batch.mask.copy_from(Tensor::from_vector<double>({1.0, 1.0}, {2, 1}));
    batch.targets.copy_from(Tensor::from_vector<double>({1.0}, {1}));
    batch.weights.copy_from(Tensor::from_vector<double>({1.0}, {1}));
    EXPECT_NEAR(net.forward().to_vector<double>()[0], -0.9975602496925912, 1e-12);
    EXPECT_NEAR(net.forward_backward(), 1.3114786725007583, 1e-12);

    // A third, padded step changes nothing.
    auto& padded = net.batch(3, 1);
    padded.inputs.copy_from(Tensor::from_vector<double>({1.0, -2.0, 5.0}, {3, 1, 1}));
    padded.mask.copy_from(Tensor::from_vector<double>({1.0, 1.0, 0.0}, {3, 1}));
    EXPECT_NEAR(net.forward().to_vector<double>()[0], -0.9975602496925912, 1e-12);
}

void set_random_parameters(LstmNetwork& net, uint64_t seed) {
    for (const auto& name : net.parameter_names())
        net.set_parameter(name, test::random_tensor<double>(net.parameter_shape(name), seed++, -0.6, 0.6));
}

// Right-padded time-major mask [T, B] for the given lengths.
std::vector<double> length_mask(const std::vector<int64_t>& lengths, int64_t steps) {
    const auto batch = static_cast<int64_t>(lengths.size());
    std::vector<double> mask(static_cast<size_t>(steps * batch), 0.0);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t t = 0; t < lengths[static_cast<size_t>(b)]; ++t) mask[static_cast<size_t>(t * batch + b)] = 1.0;
    return mask;
}

// Keras's Bidirectional(LSTM) last state = forward state at the sequence's
// last real step + reverse state after reading the sequence back to t = 0:
// the same as two one-directional networks, the second on each sequence's
// real steps reversed.
TEST(LstmNetwork, BidirectionalLastStateIsForwardEndAndReverseStart) {
    const int64_t steps = 4, features = 2, hidden = 3;
    const std::vector<int64_t> lengths{4, 2, 3};
    const auto batch = static_cast<int64_t>(lengths.size());
    LstmNetwork bi(LstmArchitecture{features, hidden, 1, true, false}, DType::f64, Device::cpu, 1);
    set_random_parameters(bi, 40);
    const auto x = test::random_values(static_cast<size_t>(steps * batch * features), 41);
    const auto mask = length_mask(lengths, steps);
    auto& in = bi.batch(steps, batch);
    in.inputs.copy_from(Tensor::from_vector<double>(x, {steps, batch, features}));
    in.mask.copy_from(Tensor::from_vector<double>(mask, {steps, batch}));
    const auto got = bi.forward().to_vector<double>();

    const auto fc = bi.parameter("fc.weight").to_vector<double>();
    const double fc_bias = bi.parameter("fc.bias").to_vector<double>()[0];
    std::vector<double> want(static_cast<size_t>(batch), fc_bias);
    for (int direction = 0; direction < 2; ++direction) {
        LstmNetwork uni(LstmArchitecture{features, hidden, 1, false, false}, DType::f64, Device::cpu, 1);
        const std::string suffix = direction == 0 ? "_l0" : "_l0_reverse";
        for (const char* name : {"weight_ih", "weight_hh", "bias"})
            uni.set_parameter(std::string(name) + "_l0", bi.parameter(name + suffix));
        const std::vector<double> half(fc.begin() + direction * hidden, fc.begin() + (direction + 1) * hidden);
        uni.set_parameter("fc.weight", Tensor::from_vector<double>(half, {1, hidden}));
        uni.set_parameter("fc.bias", Tensor::from_vector<double>({0.0}, {1}));
        std::vector<double> xs = x;
        if (direction == 1)
            for (int64_t b = 0; b < batch; ++b)
                for (int64_t t = 0; t < lengths[static_cast<size_t>(b)]; ++t)
                    for (int64_t f = 0; f < features; ++f) {
                        const int64_t src = lengths[static_cast<size_t>(b)] - 1 - t;
                        xs[static_cast<size_t>((t * batch + b) * features + f)] =
                            x[static_cast<size_t>((src * batch + b) * features + f)];
                    }
        auto& uin = uni.batch(steps, batch);
        uin.inputs.copy_from(Tensor::from_vector<double>(xs, {steps, batch, features}));
        uin.mask.copy_from(Tensor::from_vector<double>(mask, {steps, batch}));
        const auto part = uni.forward().to_vector<double>();
        for (int64_t b = 0; b < batch; ++b) want[static_cast<size_t>(b)] += part[static_cast<size_t>(b)];
    }
    EXPECT_TRUE(all_close(got, want, 1e-12, 1e-12));
}

struct GradCase {
    const char* name;
    LstmArchitecture arch;
    double dropout = 0.0;  // with a fixed seed: the same masks in every pass
    double embedding_dropout = 0.0;
};

class LstmGradientCheck : public ::testing::TestWithParam<GradCase> {};

// Every parameter's and every input's gradient against central differences
// of the loss, in double precision, with padded sequences in the batch.
TEST_P(LstmGradientCheck, EveryParameterAndInputMatchesFiniteDifferences) {
    const LstmArchitecture arch = GetParam().arch;
    const int64_t steps = 4;
    const std::vector<int64_t> lengths{4, 2, 1};
    const auto batch = static_cast<int64_t>(lengths.size());
    LstmNetwork net(arch, DType::f64, Device::cpu, 1);
    set_random_parameters(net, 7);
    net.set_dropout(GetParam().dropout, 12, GetParam().embedding_dropout);
    const auto mask = length_mask(lengths, steps);
    const auto x = test::random_values(static_cast<size_t>(steps * batch * arch.input_size), 8, -1.5, 1.5);
    const Shape out_shape = arch.output_every_step ? Shape{steps, batch} : Shape{batch};
    const auto labels = test::random_values(static_cast<size_t>(shape_numel(out_shape)), 9, 0, 1);
    std::vector<double> targets, weights;
    for (size_t i = 0; i < labels.size(); ++i) {
        targets.push_back(labels[i] < 0.5 ? 0.0 : 1.0);
        // Every step mode: the loss on some real steps only (a predict mask).
        weights.push_back(arch.output_every_step ? (mask[i] != 0.0 && i % 3 != 0 ? 1.0 : 0.0) : 1.0);
    }
    auto& in = net.batch(steps, batch);
    in.inputs.copy_from(Tensor::from_vector<double>(x, {steps, batch, arch.input_size}));
    in.mask.copy_from(Tensor::from_vector<double>(mask, {steps, batch}));
    in.targets.copy_from(Tensor::from_vector<double>(targets, out_shape));
    in.weights.copy_from(Tensor::from_vector<double>(weights, out_shape));
    if (arch.embedding_dim > 0) {
        // Rows repeat across steps and sequences (their gradients add up), one
        // real step has no row, padding has none, and the last row is unused
        // (its gradient must be 0).
        std::vector<int32_t> tracks(mask.size(), -1);
        for (size_t i = 1; i < mask.size(); ++i)
            if (mask[i] != 0.0) tracks[i] = static_cast<int32_t>((i * 7) % static_cast<size_t>(arch.embedding_rows - 1));
        in.tracks.copy_from(Tensor::from_vector<int32_t>(tracks, {steps, batch}));
    }

    net.forward_backward(true);
    const auto input_grad = net.input_gradient().to_vector<double>();
    std::map<std::string, std::vector<double>> grads;
    for (const auto& name : net.parameter_names()) grads[name] = net.gradient(name).to_vector<double>();

    const double eps = 1e-6;
    auto numeric = [&](Tensor& values) {
        std::vector<double> out(static_cast<size_t>(values.numel()));
        for (int64_t k = 0; k < values.numel(); ++k) {
            const double saved = values.data<double>()[k];
            values.data<double>()[k] = saved + eps;
            const double up = net.forward_backward();
            values.data<double>()[k] = saved - eps;
            const double down = net.forward_backward();
            values.data<double>()[k] = saved;
            out[static_cast<size_t>(k)] = (up - down) / (2 * eps);
        }
        return out;
    };
    size_t checked = 0;
    for (const auto& name : net.parameter_names()) {
        Tensor value = net.parameter(name);
        std::vector<double> num(static_cast<size_t>(value.numel()));
        for (int64_t k = 0; k < value.numel(); ++k) {
            Tensor moved = value.clone();
            moved.data<double>()[k] += eps;
            net.set_parameter(name, moved);
            const double up = net.forward_backward();
            moved.data<double>()[k] -= 2 * eps;
            net.set_parameter(name, moved);
            const double down = net.forward_backward();
            num[static_cast<size_t>(k)] = (up - down) / (2 * eps);
        }
        net.set_parameter(name, value);
        EXPECT_TRUE(all_close(grads[name], num, 1e-6, 1e-9)) << name;
        checked += num.size();
    }
    EXPECT_TRUE(all_close(input_grad, numeric(in.inputs), 1e-6, 1e-9)) << "inputs";
    // Padded steps' inputs do not reach the loss.
    for (int64_t t = 0; t < steps; ++t)
        for (int64_t b = 0; b < batch; ++b)
            if (mask[static_cast<size_t>(t * batch + b)] == 0.0) {
                for (int64_t f = 0; f < arch.input_size; ++f)
                    EXPECT_EQ(input_grad[static_cast<size_t>((t * batch + b) * arch.input_size + f)], 0.0);
            }
    EXPECT_GT(checked, 100u);
}

// An encoder-decoder whose decoder has the encoder's weights is the plain
// one-directional network; with other decoder weights, only the steps from
// floor(T/2) on change, and the names follow nn.LSTM's with a decoder. prefix.
TEST(LstmNetwork, EncoderDecoderSwitchesWeightsAtHalfTheSteps) {
    const int64_t steps = 5, batch = 3, features = 2, hidden = 3;
    LstmNetwork plain(LstmArchitecture{features, hidden, 2, false, true}, DType::f64, Device::cpu, 1);
    LstmNetwork split(LstmArchitecture{features, hidden, 2, false, true, true}, DType::f64, Device::cpu, 1);
    set_random_parameters(plain, 30);
    for (const auto& name : plain.parameter_names()) {
        split.set_parameter(name, plain.parameter(name));
        if (name.rfind("fc.", 0) != 0) split.set_parameter("decoder." + name, plain.parameter(name));
    }
    EXPECT_EQ(split.parameter_names().size(), plain.parameter_names().size() + 6);
    const Tensor x = test::random_tensor<double>({steps, batch, features}, 31);
    const Tensor mask = Tensor::from_vector<double>(std::vector<double>(steps * batch, 1.0), {steps, batch});
    for (LstmNetwork* net : {&plain, &split}) {
        auto& in = net->batch(steps, batch);
        in.inputs.copy_from(x);
        in.mask.copy_from(mask);
    }
    const auto want = plain.forward().to_vector<double>();
    EXPECT_TRUE(all_close(split.forward().to_vector<double>(), want, 1e-14, 1e-14));
    split.set_parameter("decoder.bias_l1", test::random_tensor<double>({4 * hidden}, 32));
    const auto changed = split.forward().to_vector<double>();
    for (int64_t t = 0; t < steps; ++t)
        for (int64_t b = 0; b < batch; ++b) {
            const auto i = static_cast<size_t>(t * batch + b);
            if (t < steps / 2) EXPECT_EQ(changed[i], want[i]) << t;
            else EXPECT_NE(changed[i], want[i]) << t;
        }
    EXPECT_THROW(LstmNetwork(LstmArchitecture{2, 3, 1, true, true, true}, DType::f64, Device::cpu, 1), Error);
}

// Dropout is active only while set, draws its masks from the seed, and
// changes the output (so the checks above exercise it).
TEST(LstmNetwork, DropoutFollowsItsSeedAndSwitchesOff) {
    LstmNetwork net(LstmArchitecture{2, 4, 2, true, true}, DType::f64, Device::cpu, 1);
    set_random_parameters(net, 21);
    auto& in = net.batch(3, 2);
    in.inputs.copy_from(test::random_tensor<double>({3, 2, 2}, 22));
    in.mask.copy_from(Tensor::from_vector<double>(std::vector<double>(6, 1.0), {3, 2}));
    const auto plain = net.forward().to_vector<double>();
    net.set_dropout(0.5, 1);
    const auto dropped = net.forward().to_vector<double>();
    EXPECT_NE(dropped, plain);
    EXPECT_EQ(net.forward().to_vector<double>(), dropped);
    net.set_dropout(0.5, 2);
    EXPECT_NE(net.forward().to_vector<double>(), dropped);
    net.set_dropout(0.0, 2);
    EXPECT_EQ(net.forward().to_vector<double>(), plain);
    EXPECT_THROW(net.set_dropout(1.0, 0), Error);
}

// Data-parallel dropout: a network holding rows [offset, offset + count) of a
// global batch (padded to its own batch size) drops what the network holding
// the whole batch drops, so its outputs are the whole batch's rows.
TEST(LstmNetwork, DropoutOfABatchSliceIsTheGlobalBatchsDropout) {
    const LstmArchitecture arch{2, 4, 2, true, true};
    const int64_t steps = 3, global = 5, padded = 3;
    const auto x = test::random_values(static_cast<size_t>(steps * global * 2), 31, -1.0, 1.0);
    LstmNetwork whole(arch, DType::f64, Device::cpu, 1);
    set_random_parameters(whole, 30);
    auto& in = whole.batch(steps, global);
    in.inputs.copy_from(Tensor::from_vector<double>(x, {steps, global, 2}));
    in.mask.copy_from(Tensor::from_vector<double>(std::vector<double>(static_cast<size_t>(steps * global), 1.0), {steps, global}));
    whole.set_dropout(0.5, 9);
    const auto want = whole.forward().to_vector<double>();  // [steps, global]
    // A contiguous share, and rows scattered over the global batch in any
    // order (a rank's sessions of a batch are where the epoch's order put them).
    for (const std::vector<int32_t>& places : std::vector<std::vector<int32_t>>{{0, 1, 2}, {3, 4}, {4, 0, 2}, {3, 1}}) {
        const auto count = static_cast<int64_t>(places.size());
        LstmNetwork part(arch, DType::f64, Device::cpu, 1);
        set_random_parameters(part, 30);
        std::vector<double> xs(static_cast<size_t>(steps * padded * 2), 0.0), mask(static_cast<size_t>(steps * padded), 0.0);
        for (int64_t t = 0; t < steps; ++t)
            for (int64_t b = 0; b < count; ++b) {
                mask[static_cast<size_t>(t * padded + b)] = 1.0;
                for (int64_t f = 0; f < 2; ++f)
                    xs[static_cast<size_t>((t * padded + b) * 2 + f)] =
                        x[static_cast<size_t>((t * global + places[static_cast<size_t>(b)]) * 2 + f)];
            }
        auto& pin = part.batch(steps, padded);
        pin.inputs.copy_from(Tensor::from_vector<double>(xs, {steps, padded, 2}));
        pin.mask.copy_from(Tensor::from_vector<double>(mask, {steps, padded}));
        std::vector<int32_t> rows = places;
        rows.resize(static_cast<size_t>(padded), 0);  // padding rows: any place
        part.set_dropout(0.5, 9, 0.0, rows, global);
        const auto got = part.forward().to_vector<double>();
        for (int64_t t = 0; t < steps; ++t)
            for (int64_t b = 0; b < count; ++b) {
                const int64_t place = places[static_cast<size_t>(b)];
                EXPECT_NEAR(got[static_cast<size_t>(t * padded + b)], want[static_cast<size_t>(t * global + place)], 1e-12)
                    << "step " << t << ", row " << place;
            }
        // Rank-local draws (no places) would differ.
        part.set_dropout(0.5, 9);
        EXPECT_NE(part.forward().to_vector<double>(), got);
    }
    // Places outside the global batch, or too few for the batch, are refused.
    LstmNetwork part(arch, DType::f64, Device::cpu, 1);
    EXPECT_THROW(part.set_dropout(0.5, 9, 0.0, std::vector<int32_t>{0, 5, 1}, global), Error);
    EXPECT_THROW(part.set_dropout(0.5, 9, 0.0, std::vector<int32_t>{0, 1}, 0), Error);
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, LstmGradientCheck,
    ::testing::Values(GradCase{"seed_like_last_state", LstmArchitecture{1, 2, 2, true, false}},
                      GradCase{"session_like_every_step", LstmArchitecture{3, 2, 2, true, true}},
                      GradCase{"one_direction_three_layers", LstmArchitecture{2, 2, 3, false, true}},
                      GradCase{"session_like_with_dropout", LstmArchitecture{3, 3, 2, true, true}, 0.4},
                      GradCase{"seed_like_with_dropout", LstmArchitecture{1, 3, 2, true, false}, 0.5},
                      GradCase{"encoder_decoder", LstmArchitecture{3, 2, 2, false, true, true}},
                      GradCase{"encoder_decoder_with_dropout", LstmArchitecture{2, 3, 2, false, true, true}, 0.3},
                      GradCase{"encoder_decoder_with_embedding", LstmArchitecture{3, 2, 2, false, true, true, 2, 5}},
                      GradCase{"encoder_decoder_with_embedding_and_dropouts",
                               LstmArchitecture{2, 3, 1, false, true, true, 3, 4}, 0.3, 0.4},
                      GradCase{"bidirectional_with_embedding", LstmArchitecture{2, 2, 2, true, true, false, 2, 3}}),
    [](const ::testing::TestParamInfo<GradCase>& param_info) { return std::string(param_info.param.name); });

// The embedding is nn.Embedding's table, last in the flat buffer; the first
// layer's input weights take its columns after the features'. A step's row
// changes only that step's outputs onwards, and a row of -1 embeds zeros.
TEST(LstmNetwork, TrackEmbeddingIsConcatenatedToTheInputs) {
    const LstmArchitecture arch{3, 2, 1, false, true, true, 4, 6};
    LstmNetwork net(arch, DType::f64, Device::cpu, 1);
    const auto names = net.parameter_names();
    EXPECT_EQ(names.back(), "embedding.weight");
    EXPECT_EQ(net.parameter_shape("embedding.weight"), (Shape{6, 4}));
    EXPECT_EQ(net.parameter_shape("weight_ih_l0"), (Shape{8, 7}));
    EXPECT_EQ(net.parameter_shape("decoder.weight_ih_l0"), (Shape{8, 7}));
    int64_t total = 0;
    for (const auto& name : names) total += shape_numel(net.parameter_shape(name));
    EXPECT_EQ(net.flat_parameters().numel(), total);
    set_random_parameters(net, 40);
    const int64_t steps = 4, batch = 2;
    auto& in = net.batch(steps, batch);
    in.inputs.copy_from(test::random_tensor<double>({steps, batch, 3}, 41));
    in.mask.copy_from(Tensor::from_vector<double>(std::vector<double>(steps * batch, 1.0), {steps, batch}));
    in.tracks.copy_from(Tensor::from_vector<int32_t>({0, 1, 2, 3, 4, 5, 0, 1}, {steps, batch}));
    const auto base = net.forward().to_vector<double>();
    // Step 2 of sequence 1 (batch cell 2 * 2 + 1) to another row, then to none.
    for (int32_t row : {3, -1}) {
        in.tracks.copy_from(Tensor::from_vector<int32_t>({0, 1, 2, 3, 4, row, 0, 1}, {steps, batch}));
        const auto moved = net.forward().to_vector<double>();
        for (int64_t t = 0; t < steps; ++t)
            for (int64_t b = 0; b < batch; ++b) {
                const auto i = static_cast<size_t>(t * batch + b);
                if (b == 1 && t >= 2) EXPECT_NE(moved[i], base[i]) << t << "," << b;
                else EXPECT_EQ(moved[i], base[i]) << t << "," << b;
            }
    }
    // Zero embedding columns in weight_ih_l0: the same as a network without an embedding.
    LstmNetwork plain(LstmArchitecture{3, 2, 1, false, true, true}, DType::f64, Device::cpu, 1);
    for (const auto& name : plain.parameter_names()) {
        if (name.find("weight_ih_l0") == std::string::npos) {
            plain.set_parameter(name, net.parameter(name));
            continue;
        }
        Tensor full = net.parameter(name);
        std::vector<double> features;
        for (int64_t r = 0; r < 8; ++r) {
            for (int64_t c = 0; c < 3; ++c) features.push_back(full.data<double>()[r * 7 + c]);
            for (int64_t c = 3; c < 7; ++c) full.data<double>()[r * 7 + c] = 0.0;
        }
        net.set_parameter(name, full);
        plain.set_parameter(name, Tensor::from_vector<double>(features, {8, 3}));
    }
    auto& plain_in = plain.batch(steps, batch);
    plain_in.inputs.copy_from(in.inputs);
    plain_in.mask.copy_from(in.mask);
    EXPECT_TRUE(all_close(net.forward().to_vector<double>(), plain.forward().to_vector<double>(), 1e-14, 1e-14));
    EXPECT_THROW(LstmNetwork(LstmArchitecture{3, 2, 1, false, true, true, 4, 0}, DType::f64, Device::cpu, 1), Error);
}

TEST(LstmNetwork, ParametersUsePyTorchNamesAndShapes) {
    LstmNetwork net(LstmArchitecture{13, 116, 2, true, false}, DType::f32, Device::cpu, 1);
    const std::vector<std::string> want{
        "weight_ih_l0", "weight_hh_l0", "bias_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_l1_reverse",
        "fc.weight",    "fc.bias"};
    EXPECT_EQ(net.parameter_names(), want);
    EXPECT_EQ(net.parameter_shape("weight_ih_l0"), (Shape{464, 13}));
    EXPECT_EQ(net.parameter_shape("weight_ih_l1_reverse"), (Shape{464, 232}));
    EXPECT_EQ(net.parameter_shape("fc.weight"), (Shape{1, 232}));
    // The flat buffer holds exactly the named parameters.
    int64_t total = 0;
    for (const auto& name : want) total += shape_numel(net.parameter_shape(name));
    EXPECT_EQ(net.flat_parameters().numel(), total);
    // A [4H, 2H] weight round-trips through its two column blocks.
    const Tensor w = test::random_tensor<float>({464, 232}, 3);
    net.set_parameter("weight_ih_l1", w);
    EXPECT_EQ(net.parameter("weight_ih_l1").to_vector<float>(), w.to_vector<float>());
    EXPECT_THROW(net.set_parameter("weight_ih_l1", test::random_tensor<float>({464, 231}, 3)), Error);
    EXPECT_THROW(net.parameter("weight_ih_l2"), Error);
}

TEST(LstmNetwork, KerasInitialisation) {
    LstmNetwork net(LstmArchitecture{1, 16, 1, true, false}, DType::f64, Device::cpu, 1);
    net.initialize(5);
    // W_hh has orthonormal columns.
    const auto w = net.parameter("weight_hh_l0_reverse").to_vector<double>();
    for (int64_t a = 0; a < 16; ++a)
        for (int64_t b = 0; b < 16; ++b) {
            double dot = 0;
            for (int64_t r = 0; r < 64; ++r) dot += w[static_cast<size_t>(r * 16 + a)] * w[static_cast<size_t>(r * 16 + b)];
            EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-12);
        }
    // Bias 0 except the forget gate's 1.
    const auto bias = net.parameter("bias_l0").to_vector<double>();
    for (int64_t j = 0; j < 64; ++j) EXPECT_EQ(bias[static_cast<size_t>(j)], j >= 16 && j < 32 ? 1.0 : 0.0);
    // Glorot-uniform input weights within sqrt(6 / (1 + 64)).
    for (double v : net.parameter("weight_ih_l0").to_vector<double>()) EXPECT_LE(std::fabs(v), std::sqrt(6.0 / 65));
    // Deterministic in the seed.
    LstmNetwork again(LstmArchitecture{1, 16, 1, true, false}, DType::f64, Device::cpu, 1);
    again.initialize(5);
    EXPECT_EQ(again.parameter("weight_ih_l0").to_vector<double>(), net.parameter("weight_ih_l0").to_vector<double>());
}

}  // namespace
}  // namespace skipper
