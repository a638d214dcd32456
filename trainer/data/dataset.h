// The in-memory forms both learners train on. The data pipeline
// (trainer/data/) builds them from MSSD files or from the synthetic generator.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace skipper::data {

// Row form: one row per example, for the GBDT (and the `seed` LSTM, which
// reads the 13 seed features as a 13-step sequence of 1-dim inputs).
struct TabularDataset {
    std::vector<std::string> feature_names;
    // Per feature: true for label-encoded categorical columns (codes 0..n-1).
    std::vector<bool> categorical;
    // Per categorical feature: the category names in code order (empty for numeric).
    std::vector<std::vector<std::string>> category_names;
    Tensor features;  // f32 [rows, features]; NaN marks a missing value
    Tensor labels;    // f32 [rows], 0 or 1
    // For session-task rows: the session and the 1-based position each row
    // predicts (lets metrics regroup rows into sessions). Empty otherwise.
    std::vector<int32_t> session_index;
    std::vector<int32_t> position;

    int64_t rows() const { return features.defined() ? features.size(0) : 0; }
    int64_t num_features() const { return static_cast<int64_t>(feature_names.size()); }
};

// Sequence form for the session LSTM: one row per session, one step per track,
// left-aligned and padded to max_steps (20).
struct SequenceDataset {
    std::vector<std::string> feature_names;  // per step
    Tensor inputs;        // f32 [sessions, max_steps, features]
    Tensor labels;        // f32 [sessions, max_steps]: skip_2 (0 on padding)
    Tensor step_mask;     // f32 [sessions, max_steps]: 1 for real steps, 0 for padding
    Tensor history_mask;  // f32 [sessions, max_steps]: 1 for positions 1..floor(L/2)
    Tensor predict_mask;  // f32 [sessions, max_steps]: 1 for positions floor(L/2)+1..L
    std::vector<int32_t> lengths;  // L per session
    // Per session: session_hash(session id) (layout.h), which the validation
    // hold-out is drawn on, as the test split is; empty when the sessions
    // have no ids (then the hold-out is drawn by index).
    std::vector<uint64_t> session_hash;
    // Set on a dataset mapped from a cache (sequence_cache.h): told how many
    // bytes each batch read, so that the mapping's pages can be dropped as a
    // pass goes on and its memory stays bounded. Unset for data in memory.
    std::function<void(size_t bytes)> read_bytes;
    // i32 [sessions, max_steps]: each real step's track id hashed
    // (ops::key_hash, in [0, 2^31)); -1 on padding. The track embedding's
    // table row is ops::hash_bucket(hash, track_embedding_buckets).
    Tensor track_hash;

    int64_t sessions() const { return inputs.defined() ? inputs.size(0) : 0; }
    int64_t max_steps() const { return inputs.defined() ? inputs.size(1) : 0; }
    int64_t num_features() const { return static_cast<int64_t>(feature_names.size()); }
};

}  // namespace skipper::data
