// Feature builders: MSSD tables -> the datasets both learners train on.
//
// Seed task (DESIGN section 1): one row per log row, 13 features, label
// is_skipped = !not_skipped.
// Session task (WSDM Cup 2019): in a session of length L, positions
// 1..floor(L/2) are the history (every log column known), positions
// floor(L/2)+1..L are predicted from the track alone; target skip_2. The
// session builders need complete sessions (positions 1..L all present) and
// throw DataError naming the first incomplete one otherwise.
//
// Session numbering is shared: session_index in the per-row form and the row
// of the sequence form are both the session's code in MssdData::log, so one
// split by session applies to both forms.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/mssd.h"
#include "trainer/gbdt/binning.h"

namespace skipper::data {

// The column that leaks the label in the seed task.
inline constexpr const char* kLeakingColumn = "hist_user_behavior_reason_end";

using WarningCallback = std::function<void(const std::string& message)>;

struct SeedFeatureOptions {
    // true reproduces the original analysis, leak included; false drops
    // hist_user_behavior_reason_end (12 features).
    bool with_leak = true;
    // Receives the warning naming the leaking column when it is included.
    // Unset: the warning goes to stderr.
    WarningCallback warn;
};

// The 13 seed features in DESIGN order: context_switch, is_paused_before_play,
// hist_user_behavior_is_shuffle, hist_user_behavior_n_seekfwd,
// hist_user_behavior_n_seekback, released_from (2022 - release_year), premium,
// session_length, session_position, hist_user_behavior_reason_start,
// hist_user_behavior_reason_end, hour_of_day, context_type. The three text
// columns are label-encoded (codes in sorted name order, as scikit-learn's
// LabelEncoder) and marked categorical.
TabularDataset build_seed_features(const MssdData& data, const SeedFeatureOptions& options = {});

// Per-column mean and standard deviation of a track table's features (NaN
// ignored). The session builders standardise track features with them: by
// default with those of `data.tracks`; the server passes those of its whole
// track table, so that a request holding one session is built as the
// training data was.
struct TrackStandardiser {
    std::vector<double> mean, inverse_sd;

    TrackStandardiser() = default;
    explicit TrackStandardiser(const TrackTable& tracks);
    // The same over a track table's values alone (f32 [tracks, columns]).
    explicit TrackStandardiser(const Tensor& values);
    // Standardised value of column c; a missing value becomes 0 (the mean).
    double operator()(float x, int64_t c) const { return std::isnan(x) ? 0.0 : (x - mean[c]) * inverse_sd[c]; }
};

// Session task, per-row form (for the GBDT): one row per position to predict,
// session_index and position filled, label skip_2. Features: the track's
// features, the position (absolute and within the predicted half), the
// session's context, and history aggregates (skip_1/skip_2/skip_3/not_skipped
// rates, last skip_2, the last reason_end, and the track's distance to the
// mean standardised track features of the history's skipped and of its kept
// tracks, NaN when the history has none). The feature named
// "history_last_skip_2" is the repeat-last baseline's prediction.
TabularDataset build_session_rows(const MssdData& data, const TrackStandardiser* standardiser = nullptr);

// The same rows binned, without their floats (the streamed ingest's pass 2):
// bins is u8 [rows, features], bin for bin gbdt::bin_rows(build_session_rows(
// data, &standardiser).features, bins) for the bins `binner` was made of;
// rows is build_session_rows' dataset without its features.
struct BinnedSessionRows {
    TabularDataset rows;  // schema, labels, session_index, position; no features
    Tensor bins;
};
BinnedSessionRows bin_session_rows(const MssdData& data, const TrackStandardiser& standardiser,
                                   const gbdt::RowBinner& binner);

// Session task, sequence form (for the LSTM): [sessions, max_steps, features],
// one step per track, left-aligned, zero padding. Each step holds the track's
// standardised features; history steps add their known log columns (skip
// flags, pauses, seeks, reason_start/reason_end one-hot, session context) and
// an is_history flag; steps to predict hold zeros there and a to_predict flag.
// Every step also holds the track's distances to the mean features of the
// history's skipped and kept tracks (as build_session_rows; NaN when the
// history has none). track_hash holds each step's hashed track id.
// Labels are skip_2 on every real step; predict_mask selects the scored ones.
inline constexpr int64_t kMaxSessionSteps = 20;  // the longest MSSD session
SequenceDataset build_session_sequences(const MssdData& data, int64_t max_steps = kMaxSessionSteps,
                                        const TrackStandardiser* standardiser = nullptr);

// Number of history positions in a session of length L: floor(L/2).
inline int32_t history_length(int32_t session_length) { return session_length / 2; }

}  // namespace skipper::data
