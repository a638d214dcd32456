// The LSTM learner's parameters: one struct and its table (name, default,
// range, help), which drives key=value parsing, validation, --help and the copy
// stored in model files. Names follow PyTorch's and Keras's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/params.h"

namespace skipper {

struct LstmParams {
    // seed: Keras's Bidirectional(LSTM) x2 -> Dense(1, sigmoid) over the 13
    // seed features as a 13-step sequence of 1-dim inputs (a TabularDataset).
    // session: one step per track of a session (a SequenceDataset), an output
    // at every position, the loss on the positions to predict.
    // session_seq2seq: the same data through an encoder over the history and
    // a decoder over the positions to predict, which starts from the
    // encoder's state (LstmArchitecture::encoder_decoder; one direction).
    std::string arch = "seed";
    int64_t hidden_size = 116;
    int64_t num_layers = 2;
    bool bidirectional = true;
    int64_t epochs = 10;
    int64_t batch_size = 1000;
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-7;  // Keras's default (PyTorch's is 1e-8)
    double weight_decay = 0.0;  // L2 added to the gradient, as torch.optim.Adam's
    // Early stopping, on by default: after this many epochs without a better
    // valid_logloss training stops, and the best epoch's weights are kept.
    // 0: off (every epoch runs, the last epoch's weights are kept).
    int64_t early_stopping_round = 3;
    // When train_lstm gets no validation set, this share of the TRAINING items
    // (sessions or rows, drawn with `seed`) is held out as one; 0: none.
    double validation_fraction = 0.1;
    // Dropout on the inputs of every layer above the first and of the head,
    // during training only (inverted dropout: kept values scaled by 1/(1-p)).
    double dropout = 0.0;
    // Hashed track-id embedding (session archs): each step's track id is
    // hashed (ops::key_hash) to one of track_embedding_buckets rows of a
    // learned table of track_embedding_dim columns, concatenated to the step's
    // inputs for the encoder and the decoder. 0: off. Most tracks are seen a
    // few times, so the embedded rows get their own dropout during training.
    int64_t track_embedding_dim = 0;
    int64_t track_embedding_buckets = 1 << 16;
    double track_embedding_dropout = 0.0;
    // Rows hit fewer than this many times by the training steps are not
    // learned: they stay 0 (as no embedding), so that tracks seen once or
    // twice cannot memorise their labels. 0 or 1: every row learns.
    int64_t track_embedding_min_count = 0;
    // Clip the global gradient norm to this before each Adam step (0: off),
    // as torch.nn.utils.clip_grad_norm_.
    double max_grad_norm = 1.0;
    // constant, or cosine: the step size falls from learning_rate to
    // learning_rate * min_lr_ratio over the planned epochs.
    std::string lr_schedule = "cosine";
    double min_lr_ratio = 0.05;
    int64_t seed = 42;
    int64_t num_threads = 0;  // 0: every core
    std::string device = "auto";
    bool tf32 = false;  // TF32 tensor-core matrix products on CUDA
};

const std::vector<ParamSpec<LstmParams>>& lstm_param_table();

// session or session_seq2seq: the archs that train on sessions.
inline bool is_session_arch(const std::string& arch) { return arch == "session" || arch == "session_seq2seq"; }

// Parses key=value pairs over the defaults; ParamError names a bad one.
LstmParams lstm_params_from(const KeyValues& pairs);

}  // namespace skipper
