#include "trainer/lstm/lstm_params.h"

#include <limits>

namespace skipper {

const std::vector<ParamSpec<LstmParams>>& lstm_param_table() {
    using P = LstmParams;
    constexpr double kMaxInt = static_cast<double>(std::numeric_limits<int32_t>::max());
    static const std::vector<ParamSpec<P>> table = {
        {"arch", &P::arch, 0, 0, {"seed", "session", "session_seq2seq"},
         "seed: Keras's BiLSTM over the 13 seed features as steps; session: one step per track; session_seq2seq: "
         "an encoder over the history handing its state to a decoder over the positions to predict"},
        {"hidden_size", &P::hidden_size, 1, 4096, {}, "units per LSTM direction", {"units", "num_units"}},
        {"num_layers", &P::num_layers, 1, 16, {}, "stacked LSTM layers"},
        {"bidirectional", &P::bidirectional, 0, 0, {}, "run each layer in both directions (outputs concatenated)"},
        {"epochs", &P::epochs, 1, kMaxInt, {}, "passes over the training set", {"num_epochs"}},
        {"batch_size", &P::batch_size, 1, 1 << 20, {}, "sequences per mini-batch"},
        {"learning_rate", &P::learning_rate, 0, 10, {}, "Adam step size", {"lr"}},
        {"beta1", &P::beta1, 0, 0.999999, {}, "Adam first-moment decay", {"beta_1"}},
        {"beta2", &P::beta2, 0, 0.999999999, {}, "Adam second-moment decay", {"beta_2"}},
        {"epsilon", &P::epsilon, 0, 1, {}, "Adam denominator term (Keras 1e-7, PyTorch 1e-8)", {"eps"}},
        {"weight_decay", &P::weight_decay, 0, 1, {}, "L2 penalty added to the gradient, as torch.optim.Adam"},
        {"early_stopping_round", &P::early_stopping_round, 0, kMaxInt, {},
         "stop after this many epochs without a better valid_logloss and keep the best epoch (0: off)",
         {"early_stopping_rounds", "patience"}},
        {"validation_fraction", &P::validation_fraction, 0, 0.5, {},
         "share of the training sessions (or rows) held out for validation when none is given (0: none)"},
        {"dropout", &P::dropout, 0, 0.9, {}, "dropout on the inputs of the upper layers and the head (training only)"},
        {"track_embedding_dim", &P::track_embedding_dim, 0, 1024, {},
         "columns of the hashed track-id embedding concatenated to each step's inputs (session archs; 0: off)"},
        {"track_embedding_buckets", &P::track_embedding_buckets, 1, 1 << 24, {},
         "rows of the track-id embedding table: track ids are hashed to this many"},
        {"track_embedding_dropout", &P::track_embedding_dropout, 0, 0.9, {},
         "dropout on the embedded track rows (training only)"},
        {"track_embedding_min_count", &P::track_embedding_min_count, 0, kMaxInt, {},
         "embedding rows the training steps hit fewer times stay 0 (unlearned)"},
        {"max_grad_norm", &P::max_grad_norm, 0, 1e6, {}, "clip the global gradient norm to this (0: off)",
         {"clip_grad_norm"}},
        {"lr_schedule", &P::lr_schedule, 0, 0, {"constant", "cosine"},
         "constant, or cosine decay from learning_rate to learning_rate * min_lr_ratio over the epochs"},
        {"min_lr_ratio", &P::min_lr_ratio, 0, 1, {}, "the cosine schedule's final step size, as a share of learning_rate"},
        {"seed", &P::seed, 0, 9.2e18, {}, "seed of the weight initialisation and the batch shuffling",
         {"random_state"}},
        {"num_threads", &P::num_threads, 0, 4096, {}, "CPU threads (0: every core)", {"nthread", "n_jobs"}},
        {"device", &P::device, 0, 0, {"auto", "cpu", "cuda"}, "where to train: auto picks cuda when a GPU is usable"},
        {"tf32", &P::tf32, 0, 0, {}, "allow TF32 tensor-core matrix products on CUDA"},
    };
    return table;
}

LstmParams lstm_params_from(const KeyValues& pairs) {
    LstmParams params;
    set_params(params, lstm_param_table(), pairs);
    return params;
}

}  // namespace skipper
