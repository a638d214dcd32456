// skipper bench: training throughput on this machine, comparable across
// machines. GBDT rows x trees per second and Bi-LSTM training sequences per
// second, at the seed and the session shapes, on every device asked for and
// present; optionally the peers (LightGBM, XGBoost, PyTorch and cuDNN) through
// bench/peers/*.py, where they are installed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace skipper::tools {

struct BenchOptions {
    std::string learner = "all";  // gbdt | lstm | all
    std::string device = "all";   // cpu | cuda | all (all: every device present)
    bool peers = false;
    int64_t num_threads = 0;      // 0: every core
    int64_t sessions = 4000;      // generated sessions the GBDT trains on
    int64_t gbdt_iterations = 20;
    int64_t lstm_steps = 3;       // timed training steps per LSTM shape (after one warm-up step)
};

// Runs the benchmarks, prints a table to `out` (progress to `err`) and
// returns the JSON document: the machine, the versions and every figure.
nlohmann::json run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err);

}  // namespace skipper::tools
