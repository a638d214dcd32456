// Ceilings for the session task on generated data: what a predictor that
// knows the generator's hidden state scores on the same test rows as the
// learners (bench/oracle_ceiling.cpp prints them; bench/RESULTS.md, issue 15).
// Both read data::HiddenState, which only the generator hands out on request.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"

namespace skipper::tools {

// Per session-task row of `rows` (built from `mssd`), P(skip_2) = sigmoid of
// the true logit, mood included. Unreachable: it sees the mood of positions
// whose labels and history it has not seen.
std::vector<double> full_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                              const data::HiddenState& hidden);

// Per row, P(skip_2) for a predictor that knows u, w and every track's a_t and
// c_t, and the mood s_h at the last history position h, but not the mood's
// later innovations: E[sigmoid(x + s_p) | s_h], with x the logit without the
// mood and s_p | s_h ~ N(rho^k s_h, sd^2 (1 - rho^(2k))), k = p - h. The future
// labels depend on the history only through this state, so no model that sees
// the history alone can beat it on average.
std::vector<double> history_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                                 const data::HiddenState& hidden);

// Per row, the Bayes posterior predictive P(skip_2 | the history's skip_2
// labels) under the generator's own model, for a predictor that knows the
// model, every track's a_t and c_t and the session's observed context (the
// prior mean of u), but not u, w or the mood: importance sampling with the
// prior as proposal, `samples` draws of (u, w, s_1..s_L) per session, weighted
// by the likelihood of the history labels. The best any learner can do on
// average that sees the history's labels and knows the tracks' hidden terms
// (more than the learners know: c_t is only partly readable from features).
std::vector<double> posterior_oracle_probabilities(const data::TabularDataset& rows, const data::MssdData& mssd,
                                                   const data::HiddenState& hidden, int samples, uint64_t seed);

// E[sigmoid(mean + sd Z)], Z ~ N(0, 1), by the midpoint rule over +-8 sd
// (error far below 1e-9 for the logits here).
double expected_sigmoid(double mean, double sd);

}  // namespace skipper::tools
