// The synthetic MSSD generator. Its generative model is written down in
// trainer/data/GENERATOR.md. The same seed gives the same tables, whatever the
// thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/mssd.h"

namespace skipper::data {

struct GeneratorOptions {
    int64_t sessions = 10000;
    uint64_t seed = 42;
    // Size of the track catalogue; 0 picks about 5 tracks per session (the
    // official mini sample has 50,704 tracks for 10,000 sessions), at least 1000.
    int64_t tracks = 0;
};

// The tables in memory, already joined (about 16 rows per session).
MssdData generate_mssd(const GeneratorOptions& options);

// The hidden quantities behind each skip, for measuring what an oracle that
// knows them scores (tools/oracle.h). Returned only to a caller that asks for
// it: no file and no learner sees it. Per row, in the log's row order:
//   logit = b(p) + u + mood + taste_weight * taste + track_weight * track_propensity.
struct HiddenState {
    std::vector<double> session_propensity;  // u of the row's session
    std::vector<double> taste;               // <w, a_t>
    std::vector<double> track_propensity;    // c_t (standardised)
    std::vector<double> mood;                // s_p
    std::vector<double> logit;               // the whole skip logit, as drawn
    // Per session: the taste direction w (8 numbers each, row-major).
    std::vector<double> taste_direction;
    // The model's constants, so that an oracle does not restate them.
    double taste_weight = 0.0, track_weight = 0.0, mood_sd = 0.0, mood_persistence = 0.0;
    std::vector<double> position_offset;  // b(1), b(2), b(p >= 3)
};
// The same tables (bit for bit), and the hidden state in `hidden`.
MssdData generate_mssd(const GeneratorOptions& options, HiddenState* hidden);

// The files `skipper gen --sessions N --seed S --out DIR` writes.
struct GeneratedFiles {
    std::string log_path;     // DIR/log_0.csv: the session logs
    std::string tracks_path;  // DIR/tf_0.csv: the track features
    int64_t rows = 0;
    int64_t sessions = 0;
    int64_t tracks = 0;
};

// Generates and writes DIR/log_0.csv and DIR/tf_0.csv in the raw MSSD format
// (DIR is created if missing). This is the one call behind `skipper gen`.
GeneratedFiles write_generated_mssd(const GeneratorOptions& options, const std::string& out_dir);

// `skipper gen --files K [--test-set]`: the real release's layout.
// - DIR/training_set/log_{k%10}_{YYYYMMDD}_000000000000.csv: K files of whole
//   sessions, in contiguous blocks, so that the files read in sorted order
//   hold the sessions in the order generate_mssd made them;
// - DIR/track_features/tf_000000000000.csv and tf_000000000001.csv: the track
//   table in two halves;
// - with test_set, the last test_fraction of the sessions go to the test set
//   instead of training_set: DIR/test_set/log_prehistory_20180715_000000000000.csv
//   (the first floor(L/2) positions, every column) and
//   log_input_20180715_000000000000.csv (session_id, session_position,
//   session_length, track_id_clean of the rest), and, outside the folders a
//   run reads, DIR/ground_truth/full_sessions_000000000000.csv (the test
//   sessions whole, for `skipper eval`) and labels_000000000000.txt (the
//   submission form: per session, the skip_2 of its second half as 0/1 digits).
struct GeneratedLayout {
    std::vector<std::string> log_paths;
    std::vector<std::string> track_paths;
    std::string prehistory_path, input_path, full_sessions_path, labels_path;  // empty without a test set
    int64_t rows = 0;  // training rows
    int64_t sessions = 0;
    int64_t test_sessions = 0;
    int64_t tracks = 0;
};
GeneratedLayout write_generated_layout(const GeneratorOptions& options, const std::string& out_dir, int64_t files,
                                       bool test_set, double test_fraction = 0.2);

}  // namespace skipper::data
