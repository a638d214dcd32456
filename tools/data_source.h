// Where a command's data comes from: the user's MSSD files (data=DIR in any
// of the layouts of trainer/data/layout.h, or log=FILES and tracks=FILES as
// comma lists and globs), or, when none are named, a synthetic sample
// generated in memory (sessions=N, sample_seed=S).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "trainer/data/layout.h"
#include "trainer/data/mssd.h"

namespace skipper::tools {

struct DataSource {
    std::string data_dir;     // a folder in one of the MSSD layouts
    std::string log_path;     // or the files by name: comma lists and globs
    std::string tracks_path;
    int64_t sessions = 2000;  // generated sample size when no files are named
    int64_t sample_seed = 42;
    std::string on_bad_row = "error";
    std::string files;            // files=: a subset of the log files (layout.h select_files)
    double sample_sessions = 1.0;  // share of sessions kept, by session-id hash
    int64_t sample_num_tracks = 0;  // generated sample's catalogue size (0: the generator's default)
};

struct LoadedData {
    data::MssdData mssd;
    std::string description;  // "generated sample: 2000 sessions, seed 42" or the file names
    // Set by load_data_share: per session of `mssd`, (index of its file among
    // all the log files) << 32 | (its code among that file's sessions), which
    // sorts every rank's sessions into the order one process holds them in.
    std::vector<uint64_t> session_keys;
};

// The files `source` names, after data=/log=/tracks= and files=; empty logs
// and tracks when it names none (a generated sample).
data::MssdFiles resolve_files(const DataSource& source);

// Reads or generates the data; problems skipped under on_bad_row=skip are
// reported on `log`. DataError carries file, line and column.
LoadedData load_data(const DataSource& source, std::ostream& log);

// This rank's share of the named files' sessions, for a data-parallel job
// (trainer/data_parallel.h: input_share): files k/n, or, with fewer files
// than ranks, every file's sessions whose hash falls to this rank; with the
// whole track table. Sessions are checked whole within one file as one
// process checks them (across ranks too). Every rank must name the same files.
LoadedData load_data_share(const DataSource& source, std::ostream& log);

}  // namespace skipper::tools
