#include "trainer/data/features.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <limits>
#include <numeric>

#include "engine/error.h"
#include "engine/ops.h"
#include "trainer/data/layout.h"

namespace skipper::data {

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
constexpr double kNoDistance = std::numeric_limits<double>::quiet_NaN();  // no skipped (or kept) track in the history

// Label encoding in sorted name order (scikit-learn's LabelEncoder): returns
// the sorted names and, per original code, the new code.
std::vector<int32_t> sorted_codes(const std::vector<std::string>& names, std::vector<std::string>& sorted) {
    sorted = names;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int32_t> code(names.size());
    for (size_t i = 0; i < names.size(); ++i)
        code[i] = static_cast<int32_t>(std::lower_bound(sorted.begin(), sorted.end(), names[i]) - sorted.begin());
    return code;
}

size_t track_column(const std::string& name) {
    const auto& names = track_feature_columns();
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

// Each session's rows in position order, after checking that every session
// is whole: positions 1..L, each once, one length.
struct Sessions {
    std::vector<int64_t> offset;  // [sessions + 1]
    std::vector<int64_t> row;     // log rows, grouped by session code, by position within
};

Sessions group_sessions(const SessionLog& log) {
    const int64_t n = log.rows, sessions = log.num_sessions();
    const auto* session = log.session.data<int32_t>();
    const auto* position = log.session_position.data<int32_t>();
    const auto* length = log.session_length.data<int32_t>();
    Sessions out;
    out.offset.assign(static_cast<size_t>(sessions) + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++out.offset[static_cast<size_t>(session[i]) + 1];
    for (int64_t s = 0; s < sessions; ++s) out.offset[s + 1] += out.offset[s];
    out.row.resize(static_cast<size_t>(n));
    std::vector<int64_t> fill(out.offset.begin(), out.offset.end() - 1);
    for (int64_t i = 0; i < n; ++i) out.row[static_cast<size_t>(fill[session[i]]++)] = i;
    for (int64_t s = 0; s < sessions; ++s) {
        const auto begin = out.row.begin() + out.offset[s], end = out.row.begin() + out.offset[s + 1];
        std::sort(begin, end, [&](int64_t a, int64_t b) { return position[a] < position[b]; });
        const int64_t count = end - begin;
        bool whole = count > 0 && length[*begin] == count;
        for (int64_t k = 0; whole && k < count; ++k)
            whole = position[begin[k]] == k + 1 && length[begin[k]] == length[*begin];
        if (whole) continue;
        const int64_t first = count > 0 ? *begin : 0;
        std::string have;
        for (auto it = begin; it != end && it - begin < 25; ++it) have += (it == begin ? "" : ",") + std::to_string(position[*it]);
        throw DataError(log.source, log.source_line.empty() || count == 0 ? 0 : log.source_line[first], "session_position",
                        "session '" + log.session_ids[s] + "' is not whole: found positions " + have + " of length " +
                            std::to_string(count > 0 ? length[first] : 0) +
                            ", expected each of 1..session_length once (the session task needs whole sessions)");
    }
    return out;
}

// Root-mean-square distance between a track's standardised features
// [first, last) and a mean vector over the same columns.
// `standardised` is the track's features through the standardiser.
double rms_distance(const double* standardised, const double* centre, int64_t first, int64_t last) {
    double sum = 0.0;
    for (int64_t c = first; c < last; ++c) {
        const double d = standardised[c] - centre[c];
        sum += d * d;
    }
    return std::sqrt(sum / static_cast<double>(last - first));
}

// The track table is far larger than the caches and the log's tracks land
// anywhere in it: each row read is a miss or three (116 bytes a track). Asking
// for the next session's tracks while this one is computed overlaps them.
// Inlined by force: GCC 12 finds a function of prefetches alone pure, and so
// deleted every call to it (no prefetch was left in the binary).
[[gnu::always_inline]] inline void prefetch_session_tracks(const Sessions& sessions, int64_t s, const float* track_values, const int32_t* track_row,
                             int64_t columns) {
    if (s + 1 >= static_cast<int64_t>(sessions.offset.size())) return;
    for (int64_t k = sessions.offset[s]; k < sessions.offset[s + 1]; ++k) {
        const char* t = reinterpret_cast<const char*>(track_values + int64_t{track_row[sessions.row[k]]} * columns);
        const auto bytes = static_cast<size_t>(columns) * sizeof(float);
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(t + b);
        __builtin_prefetch(t + bytes - 1);
    }
}

// The mean standardised track features of a session's skipped (skip_2) and of
// its kept history tracks: the centres the distance features measure from.
// Held in place (one per session: two heap vectors each were a malloc pair
// per session).
struct HistoryCentres {
    static constexpr int64_t kMaxColumns = 64;
    std::array<double, kMaxColumns> skipped{}, kept{};
    int64_t skipped_count = 0, kept_count = 0;

    HistoryCentres(const int64_t* rows, int32_t history, const float* track_values, const int32_t* track_row,
                   const uint8_t* skip_2, const TrackStandardiser& z, int64_t columns) {
        if (columns > kMaxColumns) throw Error("HistoryCentres: " + std::to_string(columns) + " track columns, at most 64");
        for (int32_t k = 0; k < history; ++k) {
            const int64_t i = rows[k];
            const float* t = track_values + int64_t{track_row[i]} * columns;
            auto& centre = skip_2[i] ? skipped : kept;
            for (int64_t c = 0; c < columns; ++c) centre[c] += z(t[c], c);
            (skip_2[i] ? skipped_count : kept_count) += 1;
        }
        for (int64_t c = 0; c < columns; ++c) {
            if (skipped_count > 0) skipped[c] /= static_cast<double>(skipped_count);
            if (kept_count > 0) kept[c] /= static_cast<double>(kept_count);
        }
    }

    // Distance to the skipped centre, to the kept one and their difference,
    // over all columns and over the acoustic vector; NaN where a centre is empty.
    static constexpr int kDistances = 6;
    void distances(const float* track, const TrackStandardiser& z, int64_t columns, int64_t acoustic_first,
                   double out[kDistances]) const {
        // Standardised once for the four distances.
        double standardised[kMaxColumns];
        for (int64_t c = 0; c < columns; ++c) standardised[c] = z(track[c], c);
        const double to_skipped = skipped_count > 0 ? rms_distance(standardised, skipped.data(), 0, columns) : kNoDistance;
        const double to_kept = kept_count > 0 ? rms_distance(standardised, kept.data(), 0, columns) : kNoDistance;
        const double acoustic_skipped =
            skipped_count > 0 ? rms_distance(standardised, skipped.data(), acoustic_first, columns) : kNoDistance;
        const double acoustic_kept =
            kept_count > 0 ? rms_distance(standardised, kept.data(), acoustic_first, columns) : kNoDistance;
        out[0] = to_skipped;
        out[1] = to_kept;
        out[2] = to_skipped - to_kept;
        out[3] = acoustic_skipped;
        out[4] = acoustic_kept;
        out[5] = acoustic_skipped - acoustic_kept;
    }
};

}  // namespace

TrackStandardiser::TrackStandardiser(const TrackTable& tracks) : TrackStandardiser(tracks.values) {}

TrackStandardiser::TrackStandardiser(const Tensor& values) {
    const int64_t rows = values.size(0), columns = values.size(1);
    const float* v = values.data<float>();
    mean.assign(static_cast<size_t>(columns), 0.0);
    inverse_sd.assign(static_cast<size_t>(columns), 1.0);
    // Row by row, one pass over the table (column by column it was one pass
    // per column); each column's sums still add its rows in row order.
    std::vector<double> sum(static_cast<size_t>(columns), 0.0), squares(static_cast<size_t>(columns), 0.0);
    std::vector<int64_t> count(static_cast<size_t>(columns), 0);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < columns; ++c) {
            const float x = v[r * columns + c];
            if (std::isnan(x)) continue;
            sum[c] += x;
            squares[c] += double{x} * x;
            ++count[c];
        }
    for (int64_t c = 0; c < columns; ++c) {
        if (count[c] == 0) continue;
        mean[c] = sum[c] / static_cast<double>(count[c]);
        const double variance = squares[c] / static_cast<double>(count[c]) - mean[c] * mean[c];
        inverse_sd[c] = variance > 1e-12 ? 1.0 / std::sqrt(variance) : 1.0;
    }
}

TabularDataset build_seed_features(const MssdData& data, const SeedFeatureOptions& options) {
    const SessionLog& log = data.log;
    const int64_t n = log.rows;
    TabularDataset out;
    std::vector<std::string> start_names, end_names, context_names;
    const auto start_code = sorted_codes(log.reason_start_names, start_names);
    const auto end_code = sorted_codes(log.reason_end_names, end_names);
    const auto context_code = sorted_codes(log.context_type_names, context_names);
    auto add = [&](const char* name, std::vector<std::string> categories = {}) {
        out.feature_names.emplace_back(name);
        out.categorical.push_back(!categories.empty());
        out.category_names.push_back(std::move(categories));
    };
    add("context_switch");
    add("is_paused_before_play");
    add("hist_user_behavior_is_shuffle");
    add("hist_user_behavior_n_seekfwd");
    add("hist_user_behavior_n_seekback");
    add("released_from");
    add("premium");
    add("session_length");
    add("session_position");
    add("hist_user_behavior_reason_start", start_names);
    if (options.with_leak) add(kLeakingColumn, end_names);
    add("hour_of_day");
    add("context_type", context_names);
    if (options.with_leak) {
        const std::string message = std::string("warning: the features include '") + kLeakingColumn +
                                    "', which is written when the track ends and leaks the label (about 99% accuracy "
                                    "from it alone); use with_leak=false for an honest task";
        if (options.warn) options.warn(message);
        else std::cerr << message << "\n";
    }

    const auto width = static_cast<int64_t>(out.feature_names.size());
    out.features = Tensor::empty({n, width}, DType::f32);
    out.labels = Tensor::empty({n}, DType::f32);
    float* x = out.features.data<float>();
    float* y = out.labels.data<float>();
    const auto* track_row = data.track_row.data<int32_t>();
    const float* track_values = data.tracks.values.data<float>();
    const auto track_columns = data.tracks.values.size(1);
    const size_t release_year = track_column("release_year");
    const auto* context_switch = log.context_switch.data<uint8_t>();
    const auto* no_pause = log.no_pause_before_play.data<uint8_t>();
    const auto* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const auto* seekfwd = log.hist_user_behavior_n_seekfwd.data<int32_t>();
    const auto* seekback = log.hist_user_behavior_n_seekback.data<int32_t>();
    const auto* premium = log.premium.data<uint8_t>();
    const auto* length = log.session_length.data<int32_t>();
    const auto* position = log.session_position.data<int32_t>();
    const auto* reason_start = log.hist_user_behavior_reason_start.data<int32_t>();
    const auto* reason_end = log.hist_user_behavior_reason_end.data<int32_t>();
    const auto* hour = log.hour_of_day.data<int32_t>();
    const auto* context = log.context_type.data<int32_t>();
    const auto* not_skipped = log.not_skipped.data<uint8_t>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
        float* row = x + i * width;
        int64_t c = 0;
        row[c++] = context_switch[i];
        row[c++] = no_pause[i] ? 0.0f : 1.0f;
        row[c++] = shuffle[i];
        row[c++] = static_cast<float>(seekfwd[i]);
        row[c++] = static_cast<float>(seekback[i]);
        row[c++] = 2022.0f - track_values[track_row[i] * track_columns + static_cast<int64_t>(release_year)];
        row[c++] = premium[i];
        row[c++] = static_cast<float>(length[i]);
        row[c++] = static_cast<float>(position[i]);
        row[c++] = static_cast<float>(start_code[static_cast<size_t>(reason_start[i])]);
        if (options.with_leak) row[c++] = static_cast<float>(end_code[static_cast<size_t>(reason_end[i])]);
        row[c++] = static_cast<float>(hour[i]);
        row[c++] = static_cast<float>(context_code[static_cast<size_t>(context[i])]);
        y[i] = not_skipped[i] ? 0.0f : 1.0f;
    }
    return out;
}

namespace {

// The session rows' columns after the track's: the position ones (per row) and
// the session context and history ones (the same on every row of a session).
constexpr int kPositionFeatures = 3;
constexpr int kContextFeatures = 11;

// What build_session_rows and bin_session_rows share: the sessions, where each
// one's rows go, and the rows' schema, labels and session columns (features
// left to the sink).
struct SessionRowPlan {
    Sessions sessions;
    std::vector<int64_t> first_out;  // [sessions + 1]: each session's first output row
    std::vector<int32_t> context_code, end_code;
    TabularDataset out;
    int64_t track_columns = 0;
};

SessionRowPlan plan_session_rows(const SessionLog& log) {
    SessionRowPlan plan{group_sessions(log), {}, {}, {}, {}, 0};
    const int64_t num_sessions = log.num_sessions();
    const auto* length = log.session_length.data<int32_t>();

    // One output row per position to predict.
    plan.first_out.assign(static_cast<size_t>(num_sessions) + 1, 0);
    for (int64_t s = 0; s < num_sessions; ++s) {
        const int32_t L = length[plan.sessions.row[plan.sessions.offset[s]]];
        plan.first_out[s + 1] = plan.first_out[s] + (L - history_length(L));
    }
    const int64_t n = plan.first_out[num_sessions];

    TabularDataset& out = plan.out;
    std::vector<std::string> context_names, end_names;
    plan.context_code = sorted_codes(log.context_type_names, context_names);
    plan.end_code = sorted_codes(log.reason_end_names, end_names);
    auto add = [&](const std::string& name, std::vector<std::string> categories = {}) {
        out.feature_names.push_back(name);
        out.categorical.push_back(!categories.empty());
        out.category_names.push_back(std::move(categories));
    };
    const auto& track_names = track_feature_columns();
    for (const auto& name : track_names) add(name);
    plan.track_columns = static_cast<int64_t>(track_names.size());
    add("position");
    add("prediction_offset");
    add("session_length");
    add("premium");
    add("hist_user_behavior_is_shuffle");
    add("hour_of_day");
    add("context_type", context_names);
    add("history_skip_1_rate");
    add("history_skip_2_rate");
    add("history_skip_3_rate");
    add("history_not_skipped_rate");
    add("history_last_skip_2");
    add("history_last3_skip_2_rate");
    add("history_last_reason_end", end_names);
    add("distance_to_skipped_mean");
    add("distance_to_kept_mean");
    add("distance_difference");
    add("acoustic_distance_to_skipped_mean");
    add("acoustic_distance_to_kept_mean");
    add("acoustic_distance_difference");

    out.labels = Tensor::empty({n}, DType::f32);
    out.session_index.resize(static_cast<size_t>(n));
    out.position.resize(static_cast<size_t>(n));
    return plan;
}

// Builds every session row and hands its values to `sink`: per session its
// context (sink.session, whose result goes with each of its rows), per row
// the track's values, the position features and the distances. The labels
// and session columns go to plan.out.
template <class Sink>
void fill_session_rows(const MssdData& data, const TrackStandardiser& z, SessionRowPlan& plan, const Sink& sink) {
    const SessionLog& log = data.log;
    const Sessions& sessions = plan.sessions;
    const int64_t num_sessions = log.num_sessions();
    const auto* length = log.session_length.data<int32_t>();
    TabularDataset& out = plan.out;
    float* y = out.labels.data<float>();
    const int64_t track_columns = plan.track_columns;
    const auto acoustic_first = static_cast<int64_t>(track_column("acoustic_vector_0"));
    const float* track_values = data.tracks.values.data<float>();
    const auto* track_row = data.track_row.data<int32_t>();
    const auto* premium = log.premium.data<uint8_t>();
    const auto* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const auto* hour = log.hour_of_day.data<int32_t>();
    const auto* context = log.context_type.data<int32_t>();
    const auto* reason_end = log.hist_user_behavior_reason_end.data<int32_t>();
    const uint8_t* skip[4] = {log.skip_1.data<uint8_t>(), log.skip_2.data<uint8_t>(), log.skip_3.data<uint8_t>(),
                              log.not_skipped.data<uint8_t>()};

#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < num_sessions; ++s) {
        const int64_t* rows = sessions.row.data() + sessions.offset[s];
        const int32_t L = length[rows[0]];
        const int32_t h = history_length(L);
        // History aggregates and the mean standardised features of its skipped and kept tracks.
        double rates[4] = {0, 0, 0, 0};
        for (int32_t k = 0; k < h; ++k)
            for (int f = 0; f < 4; ++f) rates[f] += skip[f][rows[k]];
        prefetch_session_tracks(sessions, s + 1, track_values, track_row, track_columns);
        const HistoryCentres centres(rows, h, track_values, track_row, skip[1], z, track_columns);
        const int64_t last = h > 0 ? rows[h - 1] : -1;
        double last3 = 0.0;
        const int32_t last3_count = std::min(h, 3);
        for (int32_t k = h - last3_count; k < h; ++k) last3 += skip[1][rows[k]];

        // Session context as known from the history's last track, and the history's aggregates.
        float session_values[kContextFeatures];
        int c = 0;
        session_values[c++] = last >= 0 ? premium[last] : kMissing;
        session_values[c++] = last >= 0 ? shuffle[last] : kMissing;
        session_values[c++] = last >= 0 ? static_cast<float>(hour[last]) : kMissing;
        session_values[c++] =
            last >= 0 ? static_cast<float>(plan.context_code[static_cast<size_t>(context[last])]) : kMissing;
        for (double rate : rates) session_values[c++] = h > 0 ? static_cast<float>(rate / h) : kMissing;
        session_values[c++] = last >= 0 ? skip[1][last] : kMissing;
        session_values[c++] = h > 0 ? static_cast<float>(last3 / last3_count) : kMissing;
        session_values[c++] =
            last >= 0 ? static_cast<float>(plan.end_code[static_cast<size_t>(reason_end[last])]) : kMissing;
        const auto session_context = sink.session(session_values);

        for (int32_t k = h; k < L; ++k) {
            const int64_t i = rows[k];
            const int64_t o = plan.first_out[s] + (k - h);
            const float* t = track_values + int64_t{track_row[i]} * track_columns;
            const int32_t position[kPositionFeatures] = {k + 1, k - h + 1, L};
            double distances[HistoryCentres::kDistances];
            centres.distances(t, z, track_columns, acoustic_first, distances);
            sink.row(o, t, position, session_context, distances);
            y[o] = skip[1][i];
            out.session_index[static_cast<size_t>(o)] = static_cast<int32_t>(s);
            out.position[static_cast<size_t>(o)] = k + 1;
        }
    }
}

// The rows as floats, in the order of plan.out's features.
struct FloatRowSink {
    float* x;
    int64_t width, track_columns;

    std::array<float, kContextFeatures> session(const float* values) const {
        std::array<float, kContextFeatures> out;
        std::copy_n(values, kContextFeatures, out.begin());
        return out;
    }
    void row(int64_t o, const float* track, const int32_t* position,
             const std::array<float, kContextFeatures>& session, const double* distances) const {
        float* r = x + o * width;
        r = std::copy_n(track, track_columns, r);
        for (int p = 0; p < kPositionFeatures; ++p) *r++ = static_cast<float>(position[p]);
        r = std::copy_n(session.begin(), kContextFeatures, r);
        for (int d = 0; d < HistoryCentres::kDistances; ++d) *r++ = static_cast<float>(distances[d]);
    }
};

// The rows binned: each value's bin as binner.bin gives it for the float the
// FloatRowSink writes. The track's columns are binned from the track table's
// row, which the distances have just brought into the cache, and a session's
// context is binned once for its rows.
struct BinRowSink {
    uint8_t* b;
    int64_t width, track_columns;
    const gbdt::RowBinner& binner;

    std::array<uint8_t, kContextFeatures> session(const float* values) const {
        std::array<uint8_t, kContextFeatures> out;
        const auto first = static_cast<size_t>(track_columns + kPositionFeatures);
        for (size_t j = 0; j < kContextFeatures; ++j) out[j] = binner.bin(first + j, values[j]);
        return out;
    }
    void row(int64_t o, const float* track, const int32_t* position,
             const std::array<uint8_t, kContextFeatures>& session, const double* distances) const {
        uint8_t* r = b + o * width;
        binner.bin_features(0, track_columns, track, r);
        r += track_columns;
        auto f = static_cast<size_t>(track_columns);
        for (int p = 0; p < kPositionFeatures; ++p) *r++ = binner.bin_integer(f++, position[p]);
        r = std::copy_n(session.begin(), kContextFeatures, r);
        f += kContextFeatures;
        float values[HistoryCentres::kDistances];
        for (int d = 0; d < HistoryCentres::kDistances; ++d) values[d] = static_cast<float>(distances[d]);
        binner.bin_features(f, HistoryCentres::kDistances, values, r);
    }
};

}  // namespace

TabularDataset build_session_rows(const MssdData& data, const TrackStandardiser* standardiser) {
    SessionRowPlan plan = plan_session_rows(data.log);
    TabularDataset& out = plan.out;
    const int64_t width = out.num_features();
    out.features = Tensor::empty({plan.first_out.back(), width}, DType::f32);
    const TrackStandardiser own = standardiser != nullptr ? TrackStandardiser() : TrackStandardiser(data.tracks);
    fill_session_rows(data, standardiser != nullptr ? *standardiser : own, plan,
                      FloatRowSink{out.features.data<float>(), width, plan.track_columns});
    return std::move(plan.out);
}

BinnedSessionRows bin_session_rows(const MssdData& data, const TrackStandardiser& standardiser,
                                   const gbdt::RowBinner& binner) {
    SessionRowPlan plan = plan_session_rows(data.log);
    const int64_t width = plan.out.num_features();
    if (binner.num_features() != width)
        throw Error("bin_session_rows: bins of " + std::to_string(binner.num_features()) + " features, the rows have " +
                    std::to_string(width));
    BinnedSessionRows out;
    out.bins = Tensor::empty({plan.first_out.back(), width}, DType::u8);
    fill_session_rows(data, standardiser, plan,
                      BinRowSink{out.bins.data<uint8_t>(), width, plan.track_columns, binner});
    out.rows = std::move(plan.out);
    return out;
}

SequenceDataset build_session_sequences(const MssdData& data, int64_t max_steps,
                                        const TrackStandardiser* standardiser) {
    const SessionLog& log = data.log;
    const Sessions sessions = group_sessions(log);
    const int64_t num_sessions = log.num_sessions();
    const auto* length = log.session_length.data<int32_t>();
    for (int64_t s = 0; s < num_sessions; ++s) {
        const int64_t first = sessions.row[sessions.offset[s]];
        if (length[first] > max_steps)
            throw DataError(log.source, log.source_line.empty() ? 0 : log.source_line[first], "session_length",
                            "session '" + log.session_ids[s] + "' has length " + std::to_string(length[first]) +
                                ", expected at most max_steps = " + std::to_string(max_steps));
    }

    SequenceDataset out;
    const auto& track_names = track_feature_columns();
    for (const auto& name : track_names) out.feature_names.push_back(name);
    const int64_t history_first = static_cast<int64_t>(out.feature_names.size());
    for (const char* name : {"skip_1", "skip_2", "skip_3", "not_skipped", "context_switch", "no_pause_before_play",
                             "short_pause_before_play", "long_pause_before_play", "log1p_n_seekfwd",
                             "log1p_n_seekback", "hist_user_behavior_is_shuffle", "premium", "hour_of_day_scaled"})
        out.feature_names.emplace_back(name);
    const int64_t start_first = static_cast<int64_t>(out.feature_names.size());
    for (const auto& name : log.reason_start_names) out.feature_names.push_back("reason_start=" + name);
    const int64_t end_first = static_cast<int64_t>(out.feature_names.size());
    for (const auto& name : log.reason_end_names) out.feature_names.push_back("reason_end=" + name);
    const int64_t context_first = static_cast<int64_t>(out.feature_names.size());
    for (const auto& name : log.context_type_names) out.feature_names.push_back("context_type=" + name);
    const int64_t flags_first = static_cast<int64_t>(out.feature_names.size());
    for (const char* name : {"is_history", "to_predict", "position_scaled"}) out.feature_names.emplace_back(name);
    // The GBDT's history-distance features, at every step: what the track
    // shares with the history's skipped and kept tracks (section 1 of DESIGN).
    const int64_t distance_first = static_cast<int64_t>(out.feature_names.size());
    for (const char* name : {"distance_to_skipped_mean", "distance_to_kept_mean", "distance_difference",
                             "acoustic_distance_to_skipped_mean", "acoustic_distance_to_kept_mean",
                             "acoustic_distance_difference"})
        out.feature_names.emplace_back(name);
    const auto width = static_cast<int64_t>(out.feature_names.size());

    out.inputs = Tensor::zeros({num_sessions, max_steps, width}, DType::f32);
    out.labels = Tensor::zeros({num_sessions, max_steps}, DType::f32);
    out.step_mask = Tensor::zeros({num_sessions, max_steps}, DType::f32);
    out.history_mask = Tensor::zeros({num_sessions, max_steps}, DType::f32);
    out.predict_mask = Tensor::zeros({num_sessions, max_steps}, DType::f32);
    out.track_hash = Tensor::from_vector<int32_t>(std::vector<int32_t>(static_cast<size_t>(num_sessions * max_steps), -1),
                                                  {num_sessions, max_steps});
    out.lengths.resize(static_cast<size_t>(num_sessions));
    out.session_hash.resize(static_cast<size_t>(num_sessions));
    for (int64_t s = 0; s < num_sessions; ++s) out.session_hash[static_cast<size_t>(s)] = session_hash(log.session_ids[static_cast<size_t>(s)]);
    float* x = out.inputs.data<float>();
    float* y = out.labels.data<float>();
    float* step = out.step_mask.data<float>();
    float* history = out.history_mask.data<float>();
    float* predict = out.predict_mask.data<float>();
    auto* track_hash = out.track_hash.data<int32_t>();
    // From the log's own track ids (the join key): a track table shared by
    // many logs (TrackStore) keeps no id strings.
    std::vector<int32_t> hash_of_code(log.track_ids.size());
    for (size_t c = 0; c < hash_of_code.size(); ++c) hash_of_code[c] = ops::key_hash(log.track_ids[c]);
    const auto* track_code = log.track.data<int32_t>();

    const TrackStandardiser own = standardiser != nullptr ? TrackStandardiser() : TrackStandardiser(data.tracks);
    const TrackStandardiser& z = standardiser != nullptr ? *standardiser : own;
    const auto track_columns = static_cast<int64_t>(track_names.size());
    const float* track_values = data.tracks.values.data<float>();
    const auto* track_row = data.track_row.data<int32_t>();
    const uint8_t* flags[] = {log.skip_1.data<uint8_t>(),
                              log.skip_2.data<uint8_t>(),
                              log.skip_3.data<uint8_t>(),
                              log.not_skipped.data<uint8_t>(),
                              log.context_switch.data<uint8_t>(),
                              log.no_pause_before_play.data<uint8_t>(),
                              log.short_pause_before_play.data<uint8_t>(),
                              log.long_pause_before_play.data<uint8_t>()};
    const auto* seekfwd = log.hist_user_behavior_n_seekfwd.data<int32_t>();
    const auto* seekback = log.hist_user_behavior_n_seekback.data<int32_t>();
    const auto* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const auto* premium = log.premium.data<uint8_t>();
    const auto* hour = log.hour_of_day.data<int32_t>();
    const auto* reason_start = log.hist_user_behavior_reason_start.data<int32_t>();
    const auto* reason_end = log.hist_user_behavior_reason_end.data<int32_t>();
    const auto* context = log.context_type.data<int32_t>();
    const auto* skip_2 = log.skip_2.data<uint8_t>();
    const auto acoustic_first = static_cast<int64_t>(track_column("acoustic_vector_0"));

#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < num_sessions; ++s) {
        const int64_t* rows = sessions.row.data() + sessions.offset[s];
        const int32_t L = length[rows[0]];
        const int32_t h = history_length(L);
        out.lengths[static_cast<size_t>(s)] = L;
        prefetch_session_tracks(sessions, s + 1, track_values, track_row, track_columns);
        const HistoryCentres centres(rows, h, track_values, track_row, skip_2, z, track_columns);
        for (int32_t k = 0; k < L; ++k) {
            const int64_t i = rows[k];
            const int64_t m = s * max_steps + k;
            float* v = x + m * width;
            const float* t = track_values + int64_t{track_row[i]} * track_columns;
            for (int64_t c = 0; c < track_columns; ++c) v[c] = static_cast<float>(z(t[c], c));
            const bool is_history = k < h;
            if (is_history) {
                int64_t c = history_first;
                for (const uint8_t* flag : flags) v[c++] = flag[i];
                v[c++] = static_cast<float>(std::log1p(seekfwd[i]));
                v[c++] = static_cast<float>(std::log1p(seekback[i]));
                v[c++] = shuffle[i];
                v[c++] = premium[i];
                v[c++] = static_cast<float>(hour[i]) / 23.0f;
                v[start_first + reason_start[i]] = 1.0f;
                v[end_first + reason_end[i]] = 1.0f;
                v[context_first + context[i]] = 1.0f;
            }
            v[flags_first] = is_history ? 1.0f : 0.0f;
            v[flags_first + 1] = is_history ? 0.0f : 1.0f;
            v[flags_first + 2] = static_cast<float>(k + 1) / static_cast<float>(max_steps);
            double distances[HistoryCentres::kDistances];
            centres.distances(t, z, track_columns, acoustic_first, distances);
            for (int d = 0; d < HistoryCentres::kDistances; ++d) v[distance_first + d] = static_cast<float>(distances[d]);
            y[m] = skip_2[i];
            step[m] = 1.0f;
            history[m] = is_history ? 1.0f : 0.0f;
            predict[m] = is_history ? 0.0f : 1.0f;
            track_hash[m] = hash_of_code[static_cast<size_t>(track_code[i])];
        }
    }
    return out;
}

}  // namespace skipper::data
