// Where a command's data comes from: the user's MSSD files (data=DIR, or
// log=FILE and tracks=FILE), or, when none are named, a synthetic sample
// generated in memory (sessions=N, sample_seed=S).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "trainer/data/mssd.h"

namespace skipper::tools {

struct DataSource {
    std::string data_dir;     // a folder holding one log_*.csv and one tf_*.csv
    std::string log_path;     // or the two files by name
    std::string tracks_path;
    int64_t sessions = 2000;  // generated sample size when no files are named
    int64_t sample_seed = 42;
    std::string on_bad_row = "error";
};

struct LoadedData {
    data::MssdData mssd;
    std::string description;  // "generated sample: 2000 sessions, seed 42" or the file names
};

// Reads or generates the data; problems skipped under on_bad_row=skip are
// reported on `log`. DataError carries file, line and column.
LoadedData load_data(const DataSource& source, std::ostream& log);

// The session-log and track-feature files inside `dir` (names starting with
// "log" and "tf", as in the MSSD release); an Error lists what was found when
// there is not exactly one of each.
std::pair<std::string, std::string> find_mssd_files(const std::string& dir);

}  // namespace skipper::tools
