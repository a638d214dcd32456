#include "tools/oracle.h"

#include <algorithm>
#include <cmath>
#include <array>
#include <random>

#include "engine/error.h"
#include "trainer/data/features.h"

namespace skipper::tools {

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The log row of each (session, position): row_of[offset[s] + p - 1].
struct RowIndex {
    std::vector<int64_t> offset, row_of;
    RowIndex(const data::SessionLog& log) {
        const auto* session = log.session.data<int32_t>();
        const auto* position = log.session_position.data<int32_t>();
        const auto* length = log.session_length.data<int32_t>();
        offset.assign(static_cast<size_t>(log.num_sessions()) + 1, 0);
        for (int64_t i = 0; i < log.rows; ++i) offset[static_cast<size_t>(session[i]) + 1] = length[i];
        for (size_t s = 1; s < offset.size(); ++s) offset[s] += offset[s - 1];
        row_of.assign(static_cast<size_t>(log.rows), -1);
        for (int64_t i = 0; i < log.rows; ++i) row_of[static_cast<size_t>(offset[session[i]] + position[i] - 1)] = i;
    }
    int64_t row(int32_t session, int32_t position) const { return row_of[static_cast<size_t>(offset[session] + position - 1)]; }
};

void check_hidden(const data::MssdData& mssd, const data::HiddenState& hidden) {
    if (static_cast<int64_t>(hidden.logit.size()) != mssd.log.rows)
        throw Error("the hidden state has " + std::to_string(hidden.logit.size()) + " rows, the log " +
                    std::to_string(mssd.log.rows) + ": not from the same generate_mssd call");
}

}  // namespace

double expected_sigmoid(double mean, double sd) {
    if (sd <= 0.0) return sigmoid(mean);
    constexpr int kPoints = 801;
    constexpr double kRange = 8.0;
    const double step = 2.0 * kRange / kPoints;
    double sum = 0.0, weights = 0.0;
    for (int k = 0; k < kPoints; ++k) {
        const double z = -kRange + (k + 0.5) * step;
        const double weight = std::exp(-0.5 * z * z);
        sum += weight * sigmoid(mean + sd * z);
        weights += weight;
    }
    return sum / weights;
}

std::vector<double> full_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                              const data::HiddenState& hidden) {
    check_hidden(mssd, hidden);
    const RowIndex index(mssd.log);
    std::vector<double> out(static_cast<size_t>(rows.rows()));
    for (int64_t r = 0; r < rows.rows(); ++r) {
        const int64_t i = index.row(rows.session_index[static_cast<size_t>(r)], rows.position[static_cast<size_t>(r)]);
        out[static_cast<size_t>(r)] = sigmoid(hidden.logit[static_cast<size_t>(i)]);
    }
    return out;
}

std::vector<double> history_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                                 const data::HiddenState& hidden) {
    check_hidden(mssd, hidden);
    const RowIndex index(mssd.log);
    const auto* length = mssd.log.session_length.data<int32_t>();
    const double rho = hidden.mood_persistence, sd = hidden.mood_sd;
    std::vector<double> out(static_cast<size_t>(rows.rows()));
    for (int64_t r = 0; r < rows.rows(); ++r) {
        const int32_t s = rows.session_index[static_cast<size_t>(r)], p = rows.position[static_cast<size_t>(r)];
        const auto i = static_cast<size_t>(index.row(s, p));
        const int32_t h = data::history_length(length[i]);
        const double without_mood = hidden.logit[i] - hidden.mood[i];
        // With no history the mood is known only through its stationary law N(0, sd^2).
        const double last_mood = h > 0 ? hidden.mood[static_cast<size_t>(index.row(s, h))] : 0.0;
        const double decay = h > 0 ? std::pow(rho, p - h) : 0.0;
        out[static_cast<size_t>(r)] =
            expected_sigmoid(without_mood + decay * last_mood, sd * std::sqrt(1.0 - decay * decay));
    }
    return out;
}

std::vector<double> posterior_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                                   const data::HiddenState& hidden, int samples, uint64_t seed) {
    check_hidden(mssd, hidden);
    if (samples < 1) throw ParamError("samples", "must be at least 1");
    const RowIndex index(mssd.log);
    const data::SessionLog& log = mssd.log;
    const auto* length = log.session_length.data<int32_t>();
    const auto* skip_2 = log.skip_2.data<uint8_t>();
    const auto* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const auto* premium = log.premium.data<uint8_t>();
    const auto* context = log.context_type.data<int32_t>();
    const auto radio = std::find(log.context_type_names.begin(), log.context_type_names.end(), "radio") -
                       log.context_type_names.begin();
    const auto& names = data::track_feature_columns();
    const auto acoustic = std::find(names.begin(), names.end(), "acoustic_vector_0") - names.begin();
    const int64_t columns = mssd.tracks.values.size(1);
    constexpr int kDims = 8;
    // The prior of u: sd 1.8 around the shifts of GENERATOR.md (the session's shuffle, premium and first context).
    constexpr double kPropensitySd = 1.8;
    const double rho = hidden.mood_persistence, sd = hidden.mood_sd, innovation = sd * std::sqrt(1.0 - rho * rho);

    std::vector<std::vector<int64_t>> rows_of(static_cast<size_t>(log.num_sessions()));
    for (int64_t r = 0; r < rows.rows(); ++r) rows_of[static_cast<size_t>(rows.session_index[static_cast<size_t>(r)])].push_back(r);
    std::vector<double> out(static_cast<size_t>(rows.rows()), 0.0);
    std::mt19937_64 random(seed);
    std::normal_distribution<double> normal;
    for (int32_t s = 0; s < static_cast<int32_t>(rows_of.size()); ++s) {
        if (rows_of[static_cast<size_t>(s)].empty()) continue;
        const int64_t first = index.row(s, 1);
        const int32_t L = length[first];
        const int32_t h = data::history_length(L);
        // Per position: the known part b(p) + track_weight c_t, and a_t.
        std::vector<double> known(static_cast<size_t>(L)), taste_vector(static_cast<size_t>(L * kDims));
        for (int32_t p = 1; p <= L; ++p) {
            const auto i = static_cast<size_t>(index.row(s, p));
            known[static_cast<size_t>(p - 1)] = hidden.position_offset[static_cast<size_t>(std::min(p, 3) - 1)] +
                                                hidden.track_weight * hidden.track_propensity[i];
            const float* track = mssd.tracks.values.data<float>() + int64_t{mssd.track_row.data<int32_t>()[i]} * columns;
            for (int j = 0; j < kDims; ++j) taste_vector[static_cast<size_t>((p - 1) * kDims + j)] = track[acoustic + j] / 0.3;
        }
        const double prior_u = (shuffle[first] ? 0.3 : 0.0) - (premium[first] ? 0.2 : 0.0) + (context[first] == radio ? 0.3 : 0.0);
        std::vector<double> log_weight(static_cast<size_t>(samples)), skip(static_cast<size_t>(samples * L));
        for (int k = 0; k < samples; ++k) {
            const double u = prior_u + kPropensitySd * normal(random);
            std::array<double, kDims> w{};
            double norm = 0.0;
            for (double& v : w) {
                v = normal(random);
                norm += v * v;
            }
            for (double& v : w) v /= std::sqrt(norm);
            double mood = sd * normal(random), weight = 0.0;
            for (int32_t p = 1; p <= L; ++p) {
                if (p > 1) mood = rho * mood + innovation * normal(random);
                double taste = 0.0;
                for (int j = 0; j < kDims; ++j) taste += w[static_cast<size_t>(j)] * taste_vector[static_cast<size_t>((p - 1) * kDims + j)];
                const double q = sigmoid(known[static_cast<size_t>(p - 1)] + u + mood + hidden.taste_weight * taste);
                skip[static_cast<size_t>(k * L + p - 1)] = q;
                if (p <= h) weight += std::log(std::max(skip_2[index.row(s, p)] ? q : 1.0 - q, 1e-300));
            }
            log_weight[static_cast<size_t>(k)] = weight;
        }
        const double top = *std::max_element(log_weight.begin(), log_weight.end());
        double total = 0.0;
        for (double& v : log_weight) total += (v = std::exp(v - top));
        for (int64_t r : rows_of[static_cast<size_t>(s)]) {
            const int32_t p = rows.position[static_cast<size_t>(r)];
            double sum = 0.0;
            for (int k = 0; k < samples; ++k) sum += log_weight[static_cast<size_t>(k)] * skip[static_cast<size_t>(k * L + p - 1)];
            out[static_cast<size_t>(r)] = sum / total;
        }
    }
    return out;
}

}  // namespace skipper::tools
