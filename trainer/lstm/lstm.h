// The LSTM learner: a (bi)directional LSTM stack with a dense + sigmoid head,
// trained with Adam on a masked binary cross-entropy. Two architectures
// (LstmParams::arch):
// - seed: the original Keras model, Bidirectional(LSTM(116,
//   return_sequences=True)) -> Bidirectional(LSTM(116)) -> Dense(1, sigmoid),
//   reading a TabularDataset's features as a sequence of 1-dim steps;
// - session: one step per track of a SequenceDataset, a probability at every
//   position, the loss on the positions to predict (predict_mask);
// - session_seq2seq: the same data through an encoder over the history that
//   hands its state to a decoder over the positions to predict.
// Features are standardised with the training set's mean and standard
// deviation (kept in the model); a missing value (NaN) becomes the mean.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "trainer/data/dataset.h"
#include "trainer/data_parallel.h"
#include "trainer/lstm/batch.h"
#include "trainer/lstm/lstm_params.h"
#include "trainer/lstm/network.h"
#include "trainer/training_log.h"

namespace skipper {

class LstmModel {
public:
    LstmModel() = default;

    // seed arch: P(label = 1) per row. The dataset's feature names must match
    // the model's (an Error names the first difference).
    std::vector<double> predict_proba(const data::TabularDataset& data) const;
    // session arch: P(skip) per session and step, row-major [sessions, max_steps]
    // (0 on padded steps). The feature names must match the model's.
    std::vector<double> predict_proba(const data::SequenceDataset& data) const;
    // The same on a network made once by make_network and reused (a server
    // keeps one per worker thread; a network is used by one thread at a time).
    // The overloads above make one per call, on the GPU when one is present.
    std::unique_ptr<lstm::LstmNetwork> make_network(Device device, int num_threads) const;
    std::vector<double> predict_proba(const data::TabularDataset& data, lstm::LstmNetwork& net) const;
    std::vector<double> predict_proba(const data::SequenceDataset& data, lstm::LstmNetwork& net) const;

    // Through engine/serialize.h: atomic write, checksum, version. Weights are
    // stored as f32 host tensors under their PyTorch names: the same file
    // loads on either device.
    void save(const std::string& path) const;
    static LstmModel load(const std::string& path);
    std::vector<uint8_t> to_bytes() const;
    static LstmModel from_bytes(const std::vector<uint8_t>& bytes, const std::string& origin);

    const std::string& arch() const { return params_.arch; }
    const LstmParams& params() const { return params_; }
    const lstm::LstmArchitecture& architecture() const { return architecture_; }
    const std::vector<std::string>& feature_names() const { return feature_names_; }
    // seed arch: copied from the training set, so a server can build its form.
    const std::vector<bool>& categorical() const { return categorical_; }
    const std::vector<std::vector<std::string>>& category_names() const { return category_names_; }
    // Standardisation: x' = (x - mean) / scale, per feature.
    const std::vector<double>& feature_mean() const { return feature_mean_; }
    const std::vector<double>& feature_scale() const { return feature_scale_; }
    // f32 host tensors by PyTorch name (see LstmNetwork::parameter_names).
    const std::map<std::string, Tensor>& weights() const { return weights_; }

private:
    friend class LstmTrainer;
    friend struct LstmModelIo;

    LstmParams params_;
    lstm::LstmArchitecture architecture_;
    std::vector<std::string> feature_names_;
    std::vector<bool> categorical_;
    std::vector<std::vector<std::string>> category_names_;
    std::vector<double> feature_mean_;
    std::vector<double> feature_scale_;
    std::map<std::string, Tensor> weights_;
};

// Trains the seed architecture (params.arch must be "seed"). Each epoch scores
// valid_logloss, valid_auc and valid_accuracy on the validation set: `valid`,
// or, when it is null and early stopping is on, validation_fraction of the
// training rows held out. With early_stopping_round > 0 training stops after
// that many epochs without a better valid_logloss and keeps the best epoch's
// weights. Never pass the test split as `valid`.
LstmModel train_lstm(const data::TabularDataset& train, const data::TabularDataset* valid, const LstmParams& params,
                     TrainingLog* log = nullptr, const ProgressCallback& progress = {});
// Trains a session architecture (params.arch "session" or "session_seq2seq"),
// with the same validation and early stopping over sessions; the validation
// metrics are logloss on the positions to predict, valid_aa and
// valid_first_accuracy.
// Sessions with session_hash are held out for validation by it.
LstmModel train_lstm(const data::SequenceDataset& train, const data::SequenceDataset* valid,
                     const LstmParams& params, TrainingLog* log = nullptr, const ProgressCallback& progress = {});
// The same with the standardisation fitted beforehand: the overload above
// passes lstm::fit_standardiser(train); a dataset cache passes the one it
// computed while it was written (trainer/data/sequence_cache.h), which is the
// same bit for bit.
LstmModel train_lstm(const data::SequenceDataset& train, const lstm::Standardiser& standardiser,
                     const data::SequenceDataset* valid, const LstmParams& params, TrainingLog* log = nullptr,
                     const ProgressCallback& progress = {});

// Data-parallel, each rank holding only its share of the training sessions
// (read from its share of the files): `train` is this rank's sessions and
// `places` where they stand among every rank's, in the order one process
// holds the training set in (trainer/data_parallel.h: place_items). Every
// rank trains the model one process trains on the whole set, within
// rounding: the standardiser and the validation metrics are reduced over the
// ranks, the validation hold-out and each epoch's batches are the one
// process's, and each rank trains, in every global batch, on the sessions of
// it that it holds (an uneven part, padded with weight-0 rows).
// `standardiser`: one fitted beforehand on every rank's sessions (a dataset
// cache's); null: fitted here over the ranks. places.hashes may be empty
// (sessions without ids: the hold-out is drawn by place).
LstmModel train_lstm(const data::SequenceDataset& train, const ItemPlaces& places, const LstmParams& params,
                     TrainingLog* log = nullptr, const ProgressCallback& progress = {},
                     const lstm::Standardiser* standardiser = nullptr);

}  // namespace skipper
