// Where an MSSD data set's files are, and which of them a run reads.
//
// Three layouts are recognised inside data=DIR, searched recursively:
// - the real release: training_set/log_{0..9}_{YYYYMMDD}_000000000000.csv,
//   track_features/tf_00000000000{0,1}.csv, test_set/log_prehistory_*.csv and
//   test_set/log_input_*.csv;
// - the flat mini sample: log_mini.csv and tf_mini.csv;
// - `skipper gen`'s output (one file or --files K, with --test-set).
// A file is classified by its name alone (log_prehistory*, log_input*, then
// log*, then tf* or track*), with .csv or .csv.gz. Lists are sorted by path,
// so a run reads them in the same order on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skipper::data {

struct MssdFiles {
    std::vector<std::string> logs;        // session logs to train or score on
    std::vector<std::string> tracks;      // track features (all are read, then concatenated)
    std::vector<std::string> prehistory;  // test set: the first halves, every column
    std::vector<std::string> inputs;      // test set: the positions to predict, no labels
};

// Every MSSD file under `dir` (recursively). A folder with no log file and
// no track file is a DataError naming what it holds.
MssdFiles find_mssd_layout(const std::string& dir);

// `spec` is a comma list of paths and glob patterns (*, ?, [..]); each glob
// is expanded in sorted order. A pattern matching nothing or a path that does
// not exist is a ParamError naming `param` and the pattern.
std::vector<std::string> expand_paths(const std::string& spec, const std::string& param);

// files=: a subset of `files` (sorted log files) by index. `selection` is a
// comma list of indices and inclusive ranges "a-b" (0-based), or "k/n" for
// every n-th file starting at k (shard k of n, as one of n processes takes).
// Empty: every file. An index past the end is a ParamError naming files.
std::vector<std::string> select_files(const std::vector<std::string>& files, const std::string& selection);

// The 64-bit hash every per-session choice is made on (sampling, the train /
// test split, bin-fitting samples, row keys): it depends on the session id
// alone, never on the file or the row a session came from.
uint64_t session_hash(std::string_view session_id);

// A uniform value in [0, 1) from a hash and a salt (the split seed, ...).
double unit_interval(uint64_t hash, uint64_t salt);

// sample_sessions=: keeps a session when unit_interval(hash, 0) < fraction.
inline bool keep_sampled_session(uint64_t hash, double fraction) {
    return fraction >= 1.0 || unit_interval(hash, 0) < fraction;
}

}  // namespace skipper::data
