// The synthetic MSSD generator. Its generative model is written down in
// trainer/data/GENERATOR.md. The same seed gives the same tables, whatever the
// thread count.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace skipper::data
