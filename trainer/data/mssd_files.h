// Reading an MSSD data set held in many files: the real release's 660 log
// files and two track files, globs, comma lists, a sample of the sessions.
// Each log file is read whole (in parallel inside the file); the streaming
// ingest (stream.h) reads one file at a time, the in-memory path concatenates.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/hash_index.h"
#include "trainer/data/mssd.h"

namespace skipper::data {

// Remembers which file each session came from: a session found in a second
// file is a DataError naming both files (MSSD keeps each session whole within
// one file, and a split session would silently become two). Keyed on the
// 64-bit session hash: 16 bytes a slot, at most half the slots used.
class SessionFiles {
public:
    void add(const SessionLog& log);

private:
    HashIndex<uint32_t> file_of_;
    std::vector<std::string> files_;
};

// Reads one log file and keeps the sessions that sample_sessions=fraction
// keeps (by session hash; 1 keeps all).
SessionLog read_session_log_sample(const std::string& path, double fraction, const ReadOptions& options,
                                   ReadReport* report);

// Reads every track file and concatenates them.
TrackTable read_track_tables(const std::vector<std::string>& paths, const ReadOptions& options, ReadReport* report);

// The in-memory path: every log file (sampled), concatenated in the given
// order, joined with every track file.
MssdData load_mssd_files(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                         double sample_sessions, const ReadOptions& options, ReadReport* report);

}  // namespace skipper::data
