#include "tools/oracle.h"

#include <cmath>

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

}  // namespace skipper::tools
