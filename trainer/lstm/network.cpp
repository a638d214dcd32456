#include "trainer/lstm/network.h"

#include <cmath>
#include <random>

#include "engine/concurrent.h"
#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "kernels/cpu/random.h"

namespace skipper::lstm {

// One weight set of one direction of one layer (views into the flat
// parameter buffer) and their gradients (views into the flat gradient buffer).
struct LstmWeights {
    std::vector<Tensor> w_ih;  // [4H, F_p] per input block p (one per direction of the layer below)
    Tensor w_hh;               // [4H, H]
    Tensor bias;               // [4H]
    std::vector<Tensor> w_ih_grad;
    Tensor w_hh_grad;
    Tensor bias_grad;
};

// One direction of one layer: one weight set for every step, or (encoder_decoder)
// the encoder's for the first half of the steps and the decoder's for the rest.
struct LstmNetwork::Direction {
    std::vector<LstmWeights> parts;
};

struct LstmNetwork::Layer {
    std::vector<Direction> directions;
};

// Every activation and gradient buffer for one batch shape, with the per-step
// views the step loops use prepared once.
struct LstmNetwork::Workspace {
    struct DirectionBuffers {
        Tensor gates;   // [T, B, 4H]: the pre-activations, then the activations
        Tensor dgates;  // [T, B, 4H]
        Tensor h, c;    // [T+1, B, H]; the zero initial state in slot 0 (forward) or slot T (reverse)
        Tensor d_out;   // [T, B, H]: gradient reaching this direction's outputs from above
        Tensor dh, dc;  // [B, H]: the running gradients of the backward pass
        // Flattened over time: [T*B, 4H], [T*B, H] (the outputs), [T*B, H] (each step's h_{t-1}).
        Tensor gates_flat, dgates_flat, out_flat, prev_flat, d_out_flat;
        Tensor dropped_flat;  // [T*B, H]: out_flat after dropout, what the layer above and the head read

        // Per step t (time index, not processing order).
        std::vector<Tensor> gates_t, dgates_t, h_t, h_prev_t, c_t, c_prev_t, d_out_t;
        Tensor final_h;  // [B, H]: the state after the whole sequence (h at T-1 forward, at 0 reverse)
    };

    int64_t steps = 0, batch = 0;
    LstmBatch inputs;
    Tensor inputs_flat;             // [T*B, F]
    std::vector<Tensor> mask_t;     // [B] per step
    std::vector<std::vector<DirectionBuffers>> layers;  // [layer][direction]
    Tensor logits, dlogits;         // [T, B] or [B]
    Tensor logits_col, dlogits_col; // the same as [N, 1]
    Tensor input_grad;              // [T, B, F]
    Tensor input_grad_flat;         // [T*B, F]
    bool has_input_grad = false;
    Tensor tracks_flat;             // i32 [T*B] (embedding_dim > 0)
    Tensor embedded, d_embedded;    // [T*B, D]: the embedded rows (after dropout) and their gradient
};

namespace {

std::string direction_suffix(int64_t direction) { return direction == 0 ? "" : "_reverse"; }

// The encoder's (or the only) weights keep PyTorch's nn.LSTM names; the decoder's are prefixed.
std::string part_prefix(int64_t part) { return part == 0 ? "" : "decoder."; }

Tensor flat_view(const Tensor& flat, int64_t& offset, const Shape& shape) {
    const int64_t n = shape_numel(shape);
    Tensor view = flat.slice_rows(offset, offset + n).reshape(shape);
    offset += n;
    return view;
}

// Host values of any float tensor as doubles.
std::vector<double> host_doubles(const Tensor& t) {
    const Tensor host = t.device() == Device::cpu ? t : t.to(Device::cpu);
    if (host.dtype() == DType::f32) {
        const auto v = host.to_vector<float>();
        return {v.begin(), v.end()};
    }
    if (host.dtype() == DType::f64) return host.to_vector<double>();
    throw Error("expected an f32 or f64 tensor, got " + t.describe());
}

Tensor host_tensor(const std::vector<double>& values, const Shape& shape, DType dtype) {
    if (dtype == DType::f64) return Tensor::from_vector<double>(values, shape);
    return Tensor::from_vector<float>(std::vector<float>(values.begin(), values.end()), shape);
}

// Keras's glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
std::vector<double> glorot_uniform(int64_t fan_in, int64_t fan_out, int64_t count, std::mt19937_64& rng) {
    const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
    std::uniform_real_distribution<double> dist(-limit, limit);
    std::vector<double> v(static_cast<size_t>(count));
    for (auto& x : v) x = dist(rng);
    return v;
}

// Keras's Orthogonal for its recurrent kernel [H, 4H]: a normal matrix with
// orthonormalised rows (4H > H, so Keras orthonormalises the columns of the
// transpose). Our W_hh is that transpose, [4H, H], with orthonormal columns.
std::vector<double> orthogonal_columns(int64_t rows, int64_t cols, std::mt19937_64& rng) {
    std::normal_distribution<double> dist(0.0, 1.0);
    std::vector<double> a(static_cast<size_t>(rows * cols));
    for (auto& x : a) x = dist(rng);
    // Modified Gram-Schmidt on the columns, twice for full double precision.
    for (int pass = 0; pass < 2; ++pass) {
        for (int64_t j = 0; j < cols; ++j) {
            for (int64_t k = 0; k < j; ++k) {
                double dot = 0.0;
                for (int64_t i = 0; i < rows; ++i) dot += a[i * cols + j] * a[i * cols + k];
                for (int64_t i = 0; i < rows; ++i) a[i * cols + j] -= dot * a[i * cols + k];
            }
            double norm = 0.0;
            for (int64_t i = 0; i < rows; ++i) norm += a[i * cols + j] * a[i * cols + j];
            norm = std::sqrt(norm);
            for (int64_t i = 0; i < rows; ++i) a[i * cols + j] /= norm;
        }
    }
    return a;
}

}  // namespace

LstmNetwork::LstmNetwork(const LstmArchitecture& architecture, DType dtype, Device device, int num_threads)
    : architecture_(architecture), dtype_(dtype), device_(device) {
    if (dtype != DType::f32 && dtype != DType::f64)
        throw Error(std::string("LstmNetwork: expected dtype f32 or f64, got ") + dtype_name(dtype));
    if (architecture.input_size < 1 || architecture.hidden_size < 1 || architecture.num_layers < 1)
        throw Error("LstmNetwork: input_size, hidden_size and num_layers must be at least 1");
    if (architecture.encoder_decoder && (architecture.bidirectional || !architecture.output_every_step))
        throw Error("LstmNetwork: an encoder-decoder is one-directional with an output at every step");
    if (architecture.embedding_dim < 0 || (architecture.embedding_dim > 0 && architecture.embedding_rows < 1))
        throw Error("LstmNetwork: an embedding needs embedding_dim >= 0 and at least one row, got dim " +
                    std::to_string(architecture.embedding_dim) + ", rows " + std::to_string(architecture.embedding_rows));
    for (int64_t d = 0; d < architecture.directions(); ++d) {
        contexts_.push_back(std::make_unique<Context>(device, num_threads));
        direction_contexts_.push_back(contexts_.back().get());
    }
    allocate_parameters();
}

LstmNetwork::~LstmNetwork() = default;

void LstmNetwork::allocate_parameters() {
    const int64_t h = architecture_.hidden_size, dirs = architecture_.directions();
    int64_t total = 0;
    for (int64_t l = 0; l < architecture_.num_layers; ++l) {
        const int64_t in = l == 0 ? architecture_.input_size + architecture_.embedding_dim : dirs * h;
        total += architecture_.parts() * dirs * (4 * h * in + 4 * h * h + 4 * h);
    }
    total += dirs * h + 1 + architecture_.embedding_rows * architecture_.embedding_dim;
    flat_parameters_ = Tensor::zeros({total}, dtype_, device_);
    flat_gradients_ = Tensor::zeros({total}, dtype_, device_);

    int64_t offset = 0;
    // Parameters and gradients share offsets: the same walk over both.
    auto take = [&](const Shape& shape, Tensor& param, Tensor& grad) {
        int64_t grad_offset = offset;
        param = flat_view(flat_parameters_, offset, shape);
        grad = flat_view(flat_gradients_, grad_offset, shape);
    };
    layers_.assign(static_cast<size_t>(architecture_.num_layers), Layer{});
    for (int64_t l = 0; l < architecture_.num_layers; ++l) {
        auto& layer = layers_[static_cast<size_t>(l)];
        layer.directions.resize(static_cast<size_t>(dirs));
        for (auto& dir : layer.directions) {
            dir.parts.resize(static_cast<size_t>(architecture_.parts()));
            for (auto& part : dir.parts) {
                // The first layer's input blocks: the step's features, then its embedded track.
                std::vector<int64_t> widths(static_cast<size_t>(dirs), h);
                if (l == 0) widths = {architecture_.input_size};
                if (l == 0 && architecture_.embedding_dim > 0) widths.push_back(architecture_.embedding_dim);
                part.w_ih.resize(widths.size());
                part.w_ih_grad.resize(widths.size());
                for (size_t p = 0; p < widths.size(); ++p) take({4 * h, widths[p]}, part.w_ih[p], part.w_ih_grad[p]);
                take({4 * h, h}, part.w_hh, part.w_hh_grad);
                take({4 * h}, part.bias, part.bias_grad);
            }
        }
    }
    fc_weight_.resize(static_cast<size_t>(dirs));
    fc_weight_grad_.resize(static_cast<size_t>(dirs));
    for (int64_t d = 0; d < dirs; ++d)
        take({1, h}, fc_weight_[static_cast<size_t>(d)], fc_weight_grad_[static_cast<size_t>(d)]);
    take({1}, fc_bias_, fc_bias_grad_);
    if (architecture_.embedding_dim > 0)
        take({architecture_.embedding_rows, architecture_.embedding_dim}, embedding_, embedding_grad_);
}

std::vector<ParameterSpec> parameter_specs(const LstmArchitecture& architecture) {
    const int64_t h = architecture.hidden_size, dirs = architecture.directions();
    std::vector<ParameterSpec> specs;
    for (int64_t k = 0; k < architecture.parts(); ++k)
        for (int64_t l = 0; l < architecture.num_layers; ++l)
            for (int64_t d = 0; d < dirs; ++d) {
                const std::string suffix = "_l" + std::to_string(l) + direction_suffix(d);
                const int64_t in = l == 0 ? architecture.input_size + architecture.embedding_dim : dirs * h;
                specs.push_back({part_prefix(k) + "weight_ih" + suffix, {4 * h, in}});
                specs.push_back({part_prefix(k) + "weight_hh" + suffix, {4 * h, h}});
                specs.push_back({part_prefix(k) + "bias" + suffix, {4 * h}});
            }
    specs.push_back({"fc.weight", {1, dirs * h}});
    specs.push_back({"fc.bias", {1}});
    if (architecture.embedding_dim > 0)
        specs.push_back({"embedding.weight", {architecture.embedding_rows, architecture.embedding_dim}});
    return specs;
}

std::vector<std::string> LstmNetwork::parameter_names() const {
    std::vector<std::string> names;
    for (const auto& spec : parameter_specs(architecture_)) names.push_back(spec.name);
    return names;
}

std::vector<Tensor> LstmNetwork::parameter_blocks(const std::string& name, bool gradient) const {
    if (name == "fc.weight") return gradient ? fc_weight_grad_ : fc_weight_;
    if (name == "fc.bias") return {gradient ? fc_bias_grad_ : fc_bias_};
    if (name == "embedding.weight" && architecture_.embedding_dim > 0) return {gradient ? embedding_grad_ : embedding_};
    for (int64_t k = 0; k < architecture_.parts(); ++k)
        for (int64_t l = 0; l < architecture_.num_layers; ++l)
            for (int64_t d = 0; d < architecture_.directions(); ++d) {
                const std::string suffix = "_l" + std::to_string(l) + direction_suffix(d);
                const std::string prefix = part_prefix(k);
                const LstmWeights& w =
                    layers_[static_cast<size_t>(l)].directions[static_cast<size_t>(d)].parts[static_cast<size_t>(k)];
                if (name == prefix + "weight_ih" + suffix) return gradient ? w.w_ih_grad : w.w_ih;
                if (name == prefix + "weight_hh" + suffix) return {gradient ? w.w_hh_grad : w.w_hh};
                if (name == prefix + "bias" + suffix) return {gradient ? w.bias_grad : w.bias};
            }
    std::string known;
    for (const auto& n : parameter_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown LSTM parameter '" + name + "' (known: " + known + ")");
}

Shape LstmNetwork::parameter_shape(const std::string& name) const {
    const auto blocks = parameter_blocks(name, false);
    if (blocks.size() == 1) return blocks[0].shape();
    // Column blocks side by side.
    int64_t cols = 0;
    for (const auto& b : blocks) cols += b.size(1);
    return {blocks[0].size(0), cols};
}

namespace {

// Gathers column blocks [R, C_p] into one host matrix [R, sum C_p] (or the
// single block as is).
Tensor join_blocks(const std::vector<Tensor>& blocks, const Shape& shape, DType dtype) {
    if (blocks.size() == 1) return blocks[0].to(Device::cpu);
    const int64_t rows = shape[0], cols = shape[1];
    std::vector<double> out(static_cast<size_t>(rows * cols));
    int64_t col0 = 0;
    for (const auto& block : blocks) {
        const auto v = host_doubles(block);
        const int64_t width = block.size(1);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < width; ++j) out[r * cols + col0 + j] = v[r * width + j];
        col0 += width;
    }
    return host_tensor(out, shape, dtype);
}

}  // namespace

Tensor LstmNetwork::parameter(const std::string& name) const {
    return join_blocks(parameter_blocks(name, false), parameter_shape(name), dtype_);
}

Tensor LstmNetwork::gradient(const std::string& name) const {
    return join_blocks(parameter_blocks(name, true), parameter_shape(name), dtype_);
}

void LstmNetwork::set_parameter(const std::string& name, const Tensor& value) {
    auto blocks = parameter_blocks(name, false);
    const Shape shape = parameter_shape(name);
    if (value.shape() != shape)
        throw Error("set_parameter('" + name + "'): expected shape " + shape_string(shape) + ", got " +
                    value.describe());
    const auto v = host_doubles(value);
    const int64_t cols = shape.size() == 2 ? shape[1] : shape[0];
    int64_t col0 = 0;
    for (auto& block : blocks) {
        const int64_t rows = block.dim() == 2 ? block.size(0) : 1;
        const int64_t width = block.dim() == 2 ? block.size(1) : block.size(0);
        std::vector<double> part(static_cast<size_t>(rows * width));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < width; ++j) part[r * width + j] = v[r * cols + col0 + j];
        block.copy_from(host_tensor(part, block.shape(), dtype_));
        col0 += width;
    }
}

void LstmNetwork::initialize(uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int64_t h = architecture_.hidden_size;
    for (int64_t k = 0; k < architecture_.parts(); ++k) {
        for (int64_t l = 0; l < architecture_.num_layers; ++l) {
            for (int64_t d = 0; d < architecture_.directions(); ++d) {
                const std::string suffix = "_l" + std::to_string(l) + direction_suffix(d);
                const std::string prefix = part_prefix(k);
                // Keras's kernel is [in, 4H]: fan_in = in, fan_out = 4H.
                const Shape ih = parameter_shape(prefix + "weight_ih" + suffix);
                set_parameter(prefix + "weight_ih" + suffix,
                              host_tensor(glorot_uniform(ih[1], ih[0], ih[0] * ih[1], rng), ih, dtype_));
                set_parameter(prefix + "weight_hh" + suffix,
                              host_tensor(orthogonal_columns(4 * h, h, rng), {4 * h, h}, dtype_));
                std::vector<double> bias(static_cast<size_t>(4 * h), 0.0);
                for (int64_t j = h; j < 2 * h; ++j) bias[static_cast<size_t>(j)] = 1.0;  // unit_forget_bias
                set_parameter(prefix + "bias" + suffix, host_tensor(bias, {4 * h}, dtype_));
            }
        }
    }
    const int64_t fc_in = architecture_.directions() * h;
    set_parameter("fc.weight", host_tensor(glorot_uniform(fc_in, 1, fc_in, rng), {1, fc_in}, dtype_));
    set_parameter("fc.bias", host_tensor({0.0}, {1}, dtype_));
    if (architecture_.embedding_dim > 0) {
        // Keras's Embedding default, U(-0.05, 0.05): small against the
        // standardised features, so that rare tracks start near neutral.
        const Shape shape{architecture_.embedding_rows, architecture_.embedding_dim};
        std::uniform_real_distribution<double> dist(-0.05, 0.05);
        std::vector<double> table(static_cast<size_t>(shape_numel(shape)));
        for (auto& x : table) x = dist(rng);
        set_parameter("embedding.weight", host_tensor(table, shape, dtype_));
    }
}

LstmBatch& LstmNetwork::batch(int64_t steps, int64_t batch_size) {
    if (steps < 1 || batch_size < 1)
        throw Error("LstmNetwork::batch: need at least one step and one sequence, got T=" + std::to_string(steps) +
                    ", B=" + std::to_string(batch_size));
    if (architecture_.encoder_decoder && steps < 2)
        throw Error("LstmNetwork::batch: an encoder-decoder needs at least two steps, got T=" + std::to_string(steps));
    if (workspace_ && workspace_->steps == steps && workspace_->batch == batch_size) return workspace_->inputs;
    graph_.reset();      // it replays the old shape's buffers
    workspace_.reset();  // release the old shape's buffers to the allocator first
    auto ws = std::make_unique<Workspace>();
    const int64_t t_count = steps, b = batch_size, h = architecture_.hidden_size, f = architecture_.input_size;
    const int64_t dirs = architecture_.directions();
    ws->steps = t_count;
    ws->batch = b;
    ws->inputs.inputs = Tensor::zeros({t_count, b, f}, dtype_, device_);
    ws->inputs.mask = Tensor::zeros({t_count, b}, dtype_, device_);
    const Shape out_shape = architecture_.output_every_step ? Shape{t_count, b} : Shape{b};
    ws->inputs.targets = Tensor::zeros(out_shape, dtype_, device_);
    ws->inputs.weights = Tensor::zeros(out_shape, dtype_, device_);
    ws->inputs_flat = ws->inputs.inputs.reshape({t_count * b, f});
    if (architecture_.embedding_dim > 0) {
        const int64_t dim = architecture_.embedding_dim;
        ws->inputs.tracks =
            Tensor::from_vector<int32_t>(std::vector<int32_t>(static_cast<size_t>(t_count * b), -1), {t_count, b})
                .to(device_);
        ws->tracks_flat = ws->inputs.tracks.reshape({t_count * b});
        ws->embedded = Tensor::zeros({t_count * b, dim}, dtype_, device_);
        ws->d_embedded = Tensor::zeros({t_count * b, dim}, dtype_, device_);
    }
    for (int64_t t = 0; t < t_count; ++t) ws->mask_t.push_back(ws->inputs.mask.slice_rows(t, t + 1).reshape({b}));

    ws->layers.resize(static_cast<size_t>(architecture_.num_layers));
    for (auto& layer : ws->layers) {
        layer.resize(static_cast<size_t>(dirs));
        for (int64_t d = 0; d < dirs; ++d) {
            auto& buf = layer[static_cast<size_t>(d)];
            buf.gates = Tensor::zeros({t_count, b, 4 * h}, dtype_, device_);
            buf.dgates = Tensor::zeros({t_count, b, 4 * h}, dtype_, device_);
            buf.h = Tensor::zeros({t_count + 1, b, h}, dtype_, device_);
            buf.c = Tensor::zeros({t_count + 1, b, h}, dtype_, device_);
            buf.d_out = Tensor::zeros({t_count, b, h}, dtype_, device_);
            buf.dh = Tensor::zeros({b, h}, dtype_, device_);
            buf.dc = Tensor::zeros({b, h}, dtype_, device_);
            buf.gates_flat = buf.gates.reshape({t_count * b, 4 * h});
            buf.dgates_flat = buf.dgates.reshape({t_count * b, 4 * h});
            buf.d_out_flat = buf.d_out.reshape({t_count * b, h});
            // Forward: h_t in slot t+1, h_{t-1} in slot t. Reverse: h_t in slot t, h_{t+1} in slot t+1.
            const int64_t out_begin = d == 0 ? 1 : 0, prev_begin = d == 0 ? 0 : 1;
            buf.out_flat = buf.h.slice_rows(out_begin, out_begin + t_count).reshape({t_count * b, h});
            buf.prev_flat = buf.h.slice_rows(prev_begin, prev_begin + t_count).reshape({t_count * b, h});
            buf.dropped_flat = Tensor::zeros({t_count * b, h}, dtype_, device_);
            for (int64_t t = 0; t < t_count; ++t) {
                const auto slot = [&](const Tensor& x, int64_t s) { return x.slice_rows(s, s + 1).reshape({b, h}); };
                buf.gates_t.push_back(buf.gates.slice_rows(t, t + 1).reshape({b, 4 * h}));
                buf.dgates_t.push_back(buf.dgates.slice_rows(t, t + 1).reshape({b, 4 * h}));
                buf.h_t.push_back(slot(buf.h, t + out_begin));
                buf.h_prev_t.push_back(slot(buf.h, t + prev_begin));
                buf.c_t.push_back(slot(buf.c, t + out_begin));
                buf.c_prev_t.push_back(slot(buf.c, t + prev_begin));
                buf.d_out_t.push_back(buf.d_out.slice_rows(t, t + 1).reshape({b, h}));
            }
            buf.final_h = d == 0 ? buf.h_t[static_cast<size_t>(t_count - 1)] : buf.h_t[0];
        }
    }
    ws->logits = Tensor::zeros(out_shape, dtype_, device_);
    ws->dlogits = Tensor::zeros(out_shape, dtype_, device_);
    ws->logits_col = ws->logits.reshape({shape_numel(out_shape), 1});
    ws->dlogits_col = ws->dlogits.reshape({shape_numel(out_shape), 1});
    workspace_ = std::move(ws);
    return workspace_->inputs;
}

void LstmNetwork::join_directions() {
    if (contexts_.size() < 2) return;
    contexts_[0]->wait_for(*contexts_[1]);
    contexts_[1]->wait_for(*contexts_[0]);
}

void LstmNetwork::run_direction_forward(int64_t layer, int64_t direction) {
    Context& ctx = *contexts_[static_cast<size_t>(direction)];
    Workspace& ws = *workspace_;
    const Direction& dir = layers_[static_cast<size_t>(layer)].directions[static_cast<size_t>(direction)];
    auto& buf = ws.layers[static_cast<size_t>(layer)][static_cast<size_t>(direction)];
    // The input projection of every step of a weight set in one product per input block.
    for (size_t k = 0; k < dir.parts.size(); ++k) {
        const auto& w = dir.parts[k];
        Tensor gates = part_rows(buf.gates_flat, k);
        for (size_t p = 0; p < w.w_ih.size(); ++p)
            ops::matmul(ctx, part_rows(layer_input(layer, p), k), false, w.w_ih[p], true, gates, 1.0,
                        p == 0 ? 0.0 : 1.0);
    }
    if (recurrent_algorithm_ == ops::RecurrentAlgorithm::standard) {
        const int64_t steps = ws.steps;
        for (int64_t s = 0; s < steps; ++s) {
            const auto t = static_cast<size_t>(direction == 0 ? s : steps - 1 - s);
            const auto& w = dir.parts[part_of_step(static_cast<int64_t>(t))];
            // The first step's h_{t-1} is the zero state: no product needed.
            if (s > 0) ops::matmul(ctx, buf.h_prev_t[t], false, w.w_hh, true, buf.gates_t[t], 1.0, 1.0);
            ops::lstm_cell_forward(ctx, buf.gates_t[t], w.bias, buf.c_prev_t[t], buf.h_prev_t[t], ws.mask_t[t],
                                   buf.c_t[t], buf.h_t[t]);
        }
    } else {
        // One weight set for every step (set_recurrent_algorithm refuses
        // encoder_decoder): the same recurrence in one persistent kernel.
        ops::lstm_recurrent_forward(ctx, dir.parts[0].w_hh, dir.parts[0].bias, ws.inputs.mask, direction == 1,
                                    buf.gates, buf.h, buf.c, recurrent_algorithm_);
    }
    if (drops_output(layer))
        ops::dropout_forward(ctx, buf.out_flat, dropout_, dropout_seed(layer, direction), buf.dropped_flat,
                             dropout_slice(buf.out_flat));
}

int64_t LstmNetwork::encoder_steps() const {
    return architecture_.encoder_decoder ? workspace_->steps / 2 : workspace_->steps;
}

size_t LstmNetwork::part_of_step(int64_t t) const {
    return architecture_.encoder_decoder && t >= encoder_steps() ? 1 : 0;
}

Tensor LstmNetwork::part_rows(const Tensor& flat, size_t part) const {
    if (!architecture_.encoder_decoder) return flat;
    const int64_t b = workspace_->batch, split = encoder_steps() * b;
    return part == 0 ? flat.slice_rows(0, split) : flat.slice_rows(split, workspace_->steps * b);
}

void LstmNetwork::set_dropout(double p, uint64_t seed, double embedding_p, std::span<const int32_t> rows,
                              int64_t global_batch) {
    if (!(p >= 0.0 && p < 1.0)) throw Error("LstmNetwork::set_dropout: p must be in [0, 1), got " + std::to_string(p));
    if (!(embedding_p >= 0.0 && embedding_p < 1.0))
        throw Error("LstmNetwork::set_dropout: embedding_p must be in [0, 1), got " + std::to_string(embedding_p));
    if (global_batch < 0) throw Error("LstmNetwork::set_dropout: negative global batch");
    if (rows.empty() != (global_batch == 0))
        throw Error("LstmNetwork::set_dropout: the rows' places and the global batch go together");
    for (const int32_t row : rows)
        if (row < 0 || row >= global_batch)
            throw Error("LstmNetwork::set_dropout: row place " + std::to_string(row) + " outside a global batch of " +
                        std::to_string(global_batch));
    dropout_ = p;
    embedding_dropout_ = embedding_p;
    dropout_seed_ = seed;
    dropout_global_batch_ = global_batch;
    dropout_rows_ = rows.empty() ? Tensor()
                                 : Tensor::from_vector<int32_t>(std::vector<int32_t>(rows.begin(), rows.end()),
                                                                {static_cast<int64_t>(rows.size())})
                                       .to(device_);
}

ops::DropoutSlice LstmNetwork::dropout_slice(const Tensor& flat) const {
    if (dropout_global_batch_ == 0) return {};
    const int64_t batch = workspace_->batch, width = flat.size(1);
    // The stride is the global batch's, as in one process. A rank's padding
    // rows draw on some row's place: they carry no weight and rows do not
    // mix, so their draws do not matter.
    if (dropout_rows_.numel() != batch)
        throw Error("LstmNetwork::set_dropout: places for " + std::to_string(dropout_rows_.numel()) +
                    " rows, the batch has " + std::to_string(batch));
    return {batch * width, dropout_global_batch_ * width, 0, dropout_rows_, width};
}

const Tensor& LstmNetwork::layer_input(int64_t layer, size_t block) const {
    if (layer > 0) return layer_output(layer - 1, static_cast<int64_t>(block));
    return block == 0 ? workspace_->inputs_flat : workspace_->embedded;
}

void LstmNetwork::input_block_gradient(Context& ctx, int64_t layer, size_t block, Tensor& out) {
    const auto& weights = layers_[static_cast<size_t>(layer)];
    const auto& bufs = workspace_->layers[static_cast<size_t>(layer)];
    for (size_t k = 0; k < static_cast<size_t>(architecture_.parts()); ++k) {
        Tensor out_rows = part_rows(out, k);
        for (int64_t d = 0; d < architecture_.directions(); ++d)
            ops::matmul(ctx, part_rows(bufs[static_cast<size_t>(d)].dgates_flat, k), false,
                        weights.directions[static_cast<size_t>(d)].parts[k].w_ih[block], false, out_rows, 1.0,
                        d == 0 ? 0.0 : 1.0);
    }
}

bool LstmNetwork::drops_output(int64_t layer) const {
    return dropout_ > 0.0 && (layer < architecture_.num_layers - 1 || architecture_.output_every_step);
}

const Tensor& LstmNetwork::layer_output(int64_t layer, int64_t direction) const {
    const auto& buf = workspace_->layers[static_cast<size_t>(layer)][static_cast<size_t>(direction)];
    return drops_output(layer) ? buf.dropped_flat : buf.out_flat;
}

uint64_t LstmNetwork::dropout_seed(int64_t layer, int64_t direction) const {
    return counter_hash(dropout_seed_, static_cast<uint64_t>(layer * architecture_.directions() + direction));
}

uint64_t LstmNetwork::embedding_dropout_seed() const {
    // The counter after every layer direction's.
    return counter_hash(dropout_seed_, static_cast<uint64_t>(architecture_.num_layers * architecture_.directions()));
}

void LstmNetwork::set_cuda_graph(bool enabled) {
    use_graph_ = enabled;
    graph_.reset();
}

void LstmNetwork::set_recurrent_algorithm(ops::RecurrentAlgorithm algorithm) {
    if (algorithm != ops::RecurrentAlgorithm::standard && architecture_.encoder_decoder)
        throw Error(std::string("LstmNetwork: ") + ops::recurrent_algorithm_name(algorithm) +
                    " runs one weight set over every step; encoder_decoder switches weights mid-sequence");
    recurrent_algorithm_ = algorithm;
    graph_.reset();
}

void LstmNetwork::set_tf32(bool enabled) {
    graph_.reset();  // cuBLAS's math mode is read when the products are queued
    for (auto& ctx : contexts_) ctx->set_tf32(enabled);
}

const Tensor& LstmNetwork::forward() {
    if (!workspace_) throw Error("LstmNetwork::forward: call batch(steps, batch_size) and fill it first");
    Workspace& ws = *workspace_;
    // The previous step's optimizer update ran on the forward direction's
    // stream; the reverse direction must not read the weights before it ends.
    join_directions();
    const int64_t dirs = architecture_.directions();
    if (architecture_.embedding_dim > 0) {
        ops::embedding_forward(context(), embedding_, ws.tracks_flat, ws.embedded);
        if (embedding_dropout_ > 0.0)
            ops::dropout_forward(context(), ws.embedded, embedding_dropout_, embedding_dropout_seed(), ws.embedded,
                                 dropout_slice(ws.embedded));
        join_directions();  // the reverse direction reads the embedded rows
    }
    for (int64_t l = 0; l < architecture_.num_layers; ++l) {
        run_concurrently(direction_contexts_, [&](size_t d) { run_direction_forward(l, static_cast<int64_t>(d)); });
        join_directions();
    }
    // The dense head on the last layer's outputs (every step) or final states.
    Context& ctx = context();
    const auto& last = ws.layers.back();
    for (int64_t d = 0; d < dirs; ++d) {
        const auto& buf = last[static_cast<size_t>(d)];
        const Tensor& features =
            architecture_.output_every_step ? layer_output(architecture_.num_layers - 1, d) : buf.final_h;
        ops::matmul(ctx, features, false, fc_weight_[static_cast<size_t>(d)], true, ws.logits_col, 1.0,
                    d == 0 ? 0.0 : 1.0);
    }
    ops::add_bias(ctx, ws.logits_col, fc_bias_);
    return ws.logits;
}

void LstmNetwork::run_direction_backward(int64_t layer, int64_t direction) {
    Context& ctx = *contexts_[static_cast<size_t>(direction)];
    Workspace& ws = *workspace_;
    Direction& dir = layers_[static_cast<size_t>(layer)].directions[static_cast<size_t>(direction)];
    auto& buf = ws.layers[static_cast<size_t>(layer)][static_cast<size_t>(direction)];
    const bool last_layer = layer == architecture_.num_layers - 1;
    // Gradient reaching the outputs at each step, except for a last layer
    // that returns its final state: then the head seeded buf.dh already.
    const bool per_step_output_grad = !last_layer || architecture_.output_every_step;
    // The consumers wrote the gradient of the dropped outputs: through the mask.
    if (drops_output(layer))
        ops::dropout_backward(ctx, buf.d_out_flat, dropout_, dropout_seed(layer, direction), buf.d_out_flat,
                              dropout_slice(buf.d_out_flat));
    if (per_step_output_grad) ops::fill(ctx, buf.dh, 0.0);
    ops::fill(ctx, buf.dc, 0.0);
    const int64_t steps = ws.steps;
    // Through time in the reverse of the forward processing order.
    for (int64_t s = 0; s < steps; ++s) {
        const auto t = static_cast<size_t>(direction == 0 ? steps - 1 - s : s);
        if (per_step_output_grad) ops::add(ctx, buf.dh, buf.d_out_t[t], buf.dh);
        ops::lstm_cell_backward(ctx, buf.gates_t[t], buf.c_prev_t[t], buf.c_t[t], ws.mask_t[t], buf.dh, buf.dc,
                                buf.dgates_t[t], buf.dc, buf.dh);
        // The first processed step's h_{t-1} is the constant zero state.
        if (s < steps - 1)
            ops::matmul(ctx, buf.dgates_t[t], false, dir.parts[part_of_step(static_cast<int64_t>(t))].w_hh, false,
                        buf.dh, 1.0, 1.0);
    }
    // Weight gradients as one product over all the steps of each weight set.
    for (size_t k = 0; k < dir.parts.size(); ++k) {
        auto& w = dir.parts[k];
        const Tensor dgates = part_rows(buf.dgates_flat, k);
        ops::matmul(ctx, dgates, true, part_rows(buf.prev_flat, k), false, w.w_hh_grad);
        for (size_t p = 0; p < w.w_ih.size(); ++p)
            ops::matmul(ctx, dgates, true, part_rows(layer_input(layer, p), k), false, w.w_ih_grad[p]);
        ops::sum_rows(ctx, dgates, w.bias_grad);
    }
}

double LstmNetwork::forward_backward(bool with_input_gradient) {
    if (!workspace_) throw Error("LstmNetwork::forward_backward: call batch(steps, batch_size) and fill it first");
    // The embedding's backward pass allocates its sort workspace per call: op by op.
    if (use_graph_ && device_ == Device::cuda && !with_input_gradient && dropout_ == 0.0 &&
        architecture_.embedding_dim == 0) {
        if (!graph_)
            graph_ = std::make_unique<StepGraph>(direction_contexts_, [this] { queue_forward_backward(false); });
        graph_->launch();
    } else {
        queue_forward_backward(with_input_gradient);
    }
    // Read last: the value needs a host synchronisation, and taking it after
    // the backward pass is queued lets the GPU run while the host waits.
    Workspace& ws = *workspace_;
    return ops::bce_with_logits_forward(context(), ws.logits, ws.inputs.targets, ws.inputs.weights);
}

void LstmNetwork::queue_forward_backward(bool with_input_gradient) {
    forward();
    Workspace& ws = *workspace_;
    Context& ctx = context();
    const int64_t dirs = architecture_.directions();
    ops::bce_with_logits_backward(ctx, ws.logits, ws.inputs.targets, ws.inputs.weights, ws.dlogits);

    // The head: its weight gradients, and the gradient reaching the last layer.
    auto& last = ws.layers.back();
    for (int64_t d = 0; d < dirs; ++d) {
        auto& buf = last[static_cast<size_t>(d)];
        const Tensor& features =
            architecture_.output_every_step ? layer_output(architecture_.num_layers - 1, d) : buf.final_h;
        ops::matmul(ctx, ws.dlogits_col, true, features, false, fc_weight_grad_[static_cast<size_t>(d)]);
        Tensor& seed = architecture_.output_every_step ? buf.d_out_flat : buf.dh;
        ops::matmul(ctx, ws.dlogits_col, false, fc_weight_[static_cast<size_t>(d)], false, seed);
    }
    ops::sum_rows(ctx, ws.dlogits_col, fc_bias_grad_);
    join_directions();

    for (int64_t l = architecture_.num_layers - 1; l >= 0; --l) {
        run_concurrently(direction_contexts_, [&](size_t d) { run_direction_backward(l, static_cast<int64_t>(d)); });
        join_directions();
        if (l == 0) {
            // The embedded rows' gradient, through their dropout mask, summed into the table's rows.
            if (architecture_.embedding_dim > 0) {
                input_block_gradient(ctx, 0, 1, ws.d_embedded);
                if (embedding_dropout_ > 0.0)
                    ops::dropout_backward(ctx, ws.d_embedded, embedding_dropout_, embedding_dropout_seed(),
                                          ws.d_embedded, dropout_slice(ws.d_embedded));
                ops::embedding_backward(ctx, ws.d_embedded, ws.tracks_flat, embedding_grad_);
            }
            if (!with_input_gradient) continue;
            if (!ws.has_input_grad) {
                // Only the gradient checks ask for it: allocated on first use.
                ws.input_grad = Tensor::zeros(ws.inputs.inputs.shape(), dtype_, device_);
                ws.input_grad_flat = ws.input_grad.reshape(ws.inputs_flat.shape());
                ws.has_input_grad = true;
            }
            input_block_gradient(ctx, 0, 0, ws.input_grad_flat);
            continue;
        }
        // The gradient reaching the layer below: block p of every direction's
        // input weights maps back to input block p, on block p's context so
        // that the directions stay concurrent.
        run_concurrently(direction_contexts_, [&](size_t p) {
            input_block_gradient(*direction_contexts_[p], l, p, ws.layers[static_cast<size_t>(l - 1)][p].d_out_flat);
        });
        join_directions();
    }
}

const Tensor& LstmNetwork::input_gradient() const {
    if (!workspace_ || !workspace_->has_input_grad)
        throw Error("LstmNetwork::input_gradient: call forward_backward(true) first");
    return workspace_->input_grad;
}

}  // namespace skipper::lstm
