// The LSTM network at the level the gradient tests and the PyTorch comparison
// use: load given weights, run a batch forward, compute the loss and every
// gradient. Device-agnostic: it calls only the op APIs (engine/ops.h,
// engine/lstm_ops.h) on tensors of its device, so the same code trains on the
// CPU and on CUDA.
//
// Layout, after cuDNN (Appleyard et al. 2016):
// - time-major batches [T, B, F], right-padded, with a step mask [T, B];
// - per layer and direction, one matrix product projects the inputs of all T
//   steps into the gate buffer [T, B, 4H]; each step then adds h_{t-1} W_hh^T
//   (the four gates in one product) and runs the fused cell kernel;
// - h and c of all steps are stored contiguously with a zero state slot
//   ([T+1, B, H]: slot 0 for the forward direction, slot T for the reverse),
//   so the weight gradients are one product over all steps;
// - a bidirectional layer's output is not concatenated: the next layer's (and
//   the head's) input weights are kept as one block per direction, so each
//   direction's h buffer feeds the next products in place.
// Every buffer is allocated once per batch shape, in batch(); the step loops
// allocate nothing. The two directions of a layer run concurrently
// (engine/concurrent.h): on their own CUDA streams, or on the CPU one core
// each.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/lstm_ops.h"
#include "engine/step_graph.h"
#include "engine/tensor.h"

namespace skipper::lstm {

struct LstmArchitecture {
    int64_t input_size = 1;  // features per step
    int64_t hidden_size = 116;
    int64_t num_layers = 2;
    bool bidirectional = true;
    // true: a logit at every step from the last layer's outputs (session);
    // false: one logit per sequence from the last layer's final states, the
    // forward direction's at t = T-1 and the reverse direction's at t = 0
    // (Keras's Bidirectional(LSTM(return_sequences=False))) (seed).
    bool output_every_step = false;
    // true: an encoder-decoder (one-directional, output_every_step). The first
    // floor(T/2) steps of a batch of T run the encoder's weights, the others
    // the decoder's; the decoder starts from the encoder's final state (h, c)
    // of each layer, so the state is all the encoder hands it. The session
    // arch right-aligns each history to end at step floor(T/2) - 1 and starts
    // the positions to predict at floor(T/2) (lstm::SequenceSource).
    bool encoder_decoder = false;
    // Hashed track-id embedding (0: none): a table [embedding_rows,
    // embedding_dim] whose row for each step (LstmBatch::tracks) is
    // concatenated to the step's inputs; the first layer's input weights have
    // input_size + embedding_dim columns (weight set of the encoder and of
    // the decoder alike).
    int64_t embedding_dim = 0;
    int64_t embedding_rows = 0;

    int64_t directions() const { return bidirectional ? 2 : 1; }
    int64_t parts() const { return encoder_decoder ? 2 : 1; }  // weight sets per layer direction
};

// Every parameter's PyTorch name and shape for an architecture, in
// LstmNetwork::parameter_names() order, computed without allocating anything:
// a model loader checks a file's weights against these before it builds a
// network from the file's sizes.
struct ParameterSpec {
    std::string name;
    Shape shape;
};
std::vector<ParameterSpec> parameter_specs(const LstmArchitecture& architecture);

// One batch, time-major, in the network's dtype and on its device.
struct LstmBatch {
    Tensor inputs;   // [T, B, F]
    Tensor mask;     // [T, B]: 1 = real step, 0 = padding (right-padded); only 0 or 1
    Tensor targets;  // [T, B] when output_every_step, else [B]; 0 or 1
    Tensor weights;  // like targets: loss weight per output (0 = left out of the loss)
    Tensor tracks;   // i32 [T, B] when embedding_dim > 0: each step's embedding row, -1 for none
};

class LstmNetwork {
public:
    LstmNetwork(const LstmArchitecture& architecture, DType dtype, Device device, int num_threads = 0);
    ~LstmNetwork();
    LstmNetwork(const LstmNetwork&) = delete;
    LstmNetwork& operator=(const LstmNetwork&) = delete;

    const LstmArchitecture& architecture() const { return architecture_; }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }

    // Keras's initialisation, deterministic in `seed` and the same on every
    // device (drawn on the host): W_ih glorot-uniform, W_hh orthogonal, bias 0
    // except the forget gate's 1 (unit_forget_bias), the dense kernel
    // glorot-uniform and its bias 0.
    void initialize(uint64_t seed);

    // Parameters under PyTorch's names and shapes, in this order:
    //   nn.LSTM:   weight_ih_l{k}[_reverse] [4H, in], weight_hh_l{k}[_reverse] [4H, H],
    //              bias_l{k}[_reverse] [4H] (PyTorch's bias_ih + bias_hh; Keras's bias),
    //   nn.Linear: fc.weight [1, D*H], fc.bias [1];
    //   encoder_decoder: the nn.LSTM names are the encoder's, and the decoder's
    //   follow as decoder.weight_ih_l{k}, decoder.weight_hh_l{k}, decoder.bias_l{k};
    //   embedding_dim > 0: then nn.Embedding's embedding.weight [rows, D].
    std::vector<std::string> parameter_names() const;
    Shape parameter_shape(const std::string& name) const;
    // Host copies (dtype of the network); set_parameter takes any f32/f64 tensor.
    Tensor parameter(const std::string& name) const;
    void set_parameter(const std::string& name, const Tensor& value);
    // d loss / d parameter from the last forward_backward, as a host copy.
    Tensor gradient(const std::string& name) const;

    // Every parameter (and gradient) in one flat tensor [P] on the device:
    // the optimizer updates them with one kernel.
    Tensor& flat_parameters() { return flat_parameters_; }
    const Tensor& flat_gradients() const { return flat_gradients_; }
    Tensor& flat_gradients() { return flat_gradients_; }  // for clipping before the optimizer step

    // The batch buffers for T steps of `batch_size` sequences, allocated with
    // every activation buffer when the shape changes and reused otherwise.
    // Fill them (Tensor::copy_from), then call forward or forward_backward.
    LstmBatch& batch(int64_t steps, int64_t batch_size);

    // Logits [T, B] or [B] of the current batch; valid until the next call.
    const Tensor& forward();
    // Forward, the masked binary cross-entropy of the logits against the
    // batch's targets and weights, then every parameter gradient (and, when
    // asked, the gradient of the loss with respect to the batch's inputs).
    // Returns the loss.
    double forward_backward(bool with_input_gradient = false);
    const Tensor& input_gradient() const;  // [T, B, F]

    // Dropout for the following forward and forward_backward calls (training):
    // with probability p, on the outputs of every layer that feeds another
    // layer or, in output_every_step mode, the head; with probability
    // embedding_p on the embedded rows (the table's regulariser: most tracks
    // are seen a few times). Each layer direction
    // draws its mask from (seed, layer, direction) (ops::dropout_forward), so
    // a given seed gives the same masks on every call: the gradient checks
    // rely on it, and the trainer passes a new seed per step. p = 0 (the
    // default): no dropout, as for inference.
    // embedding_p: dropout on the track embedding's rows (0: none).
    // Data-parallel, the batch's rows stand at rows[r] of a global batch of
    // global_batch rows (rows empty: the batch is the whole batch; else one
    // place per row of the batch, padding rows included): each element is
    // drawn on its place in the global batch (ops::DropoutSlice), so the
    // ranks drop what one process drops, wherever their rows fall in it.
    void set_dropout(double p, uint64_t seed, double embedding_p = 0.0, std::span<const int32_t> rows = {},
                     int64_t global_batch = 0);

    // On CUDA: forward_backward captures the forward and backward passes once
    // per batch shape as a CUDA graph (engine/step_graph.h) and replays it: one
    // launch instead of about 430. Steps with dropout (its per-step seed is a
    // kernel argument a graph would freeze) or the input gradient run op by op.
    void set_cuda_graph(bool enabled);
    // How each direction's forward recurrence runs: standard (a product and a
    // cell kernel per step) or persist_small_h (ops::lstm_recurrent_forward,
    // where lstm_recurrent_algorithm_available says so; not encoder_decoder).
    void set_recurrent_algorithm(ops::RecurrentAlgorithm algorithm);

    // Every direction's context (the first is context()).
    std::span<Context* const> contexts() const { return direction_contexts_; }

    // The context of the forward direction; every op outside the two
    // directions (loss, head, optimizer) runs on it.
    Context& context() { return *contexts_[0]; }
    // TF32 matrix products on CUDA, for every direction's context.
    void set_tf32(bool enabled);

private:
    struct Direction;
    struct Layer;
    struct Workspace;

    void allocate_parameters();
    void run_direction_forward(int64_t layer, int64_t direction);
    // Queues forward, loss gradient and backward; reads nothing back.
    void queue_forward_backward(bool with_input_gradient);
    void run_direction_backward(int64_t layer, int64_t direction);
    void join_directions();
    // encoder_decoder: the first floor(T/2) steps are the encoder's; else all T.
    int64_t encoder_steps() const;
    size_t part_of_step(int64_t t) const;
    // The rows of a [T*B, X] buffer that weight set `part` runs on.
    Tensor part_rows(const Tensor& flat, size_t part) const;
    // Input block p of layer l: the batch's inputs and the embedded rows for
    // the first layer, the layer below's (dropped) outputs per direction above.
    const Tensor& layer_input(int64_t layer, size_t block) const;
    // out = the gradient reaching input block p of layer l (all weight sets and directions), on ctx.
    void input_block_gradient(Context& ctx, int64_t layer, size_t block, Tensor& out);
    // Whether layer l's outputs go through dropout, and what its consumers read.
    bool drops_output(int64_t layer) const;
    const Tensor& layer_output(int64_t layer, int64_t direction) const;
    uint64_t dropout_seed(int64_t layer, int64_t direction) const;
    // Where a layer's [T * B, H] outputs sit in the global batch.
    ops::DropoutSlice dropout_slice(const Tensor& flat) const;
    uint64_t embedding_dropout_seed() const;
    // The tensors holding a named parameter inside the flat buffer (one, or one
    // column block per input direction).
    std::vector<Tensor> parameter_blocks(const std::string& name, bool gradient) const;

    LstmArchitecture architecture_;
    DType dtype_;
    Device device_;
    std::vector<std::unique_ptr<Context>> contexts_;  // one per direction
    std::vector<Context*> direction_contexts_;        // the same, for run_concurrently
    Tensor flat_parameters_;
    Tensor flat_gradients_;
    std::vector<Layer> layers_;
    std::vector<Tensor> fc_weight_, fc_weight_grad_;  // [1, H] per direction
    Tensor fc_bias_, fc_bias_grad_;                   // [1]
    Tensor embedding_, embedding_grad_;               // [rows, D] when embedding_dim > 0
    std::unique_ptr<Workspace> workspace_;
    bool use_graph_ = false;
    ops::RecurrentAlgorithm recurrent_algorithm_ = ops::RecurrentAlgorithm::standard;
    std::unique_ptr<StepGraph> graph_;  // of the current workspace; destroyed before it
    double dropout_ = 0.0;
    double embedding_dropout_ = 0.0;
    uint64_t dropout_seed_ = 0;
    int64_t dropout_global_batch_ = 0;
    Tensor dropout_rows_;  // i32 [batch] on the network's device: each row's place in the global batch
};

}  // namespace skipper::lstm
