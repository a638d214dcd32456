// The challenge's test set: test_set/log_prehistory_* (the first floor(L/2)
// positions of each session, every column) paired with log_input_* (session
// id, position, length and track of the positions to predict, no labels).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "trainer/data/mssd.h"

namespace skipper::data {

// Pairs prehistory and input files by the name after their prefix
// (log_prehistory_X.csv with log_input_X.csv); a file without its partner is
// a DataError naming it.
std::vector<std::pair<std::string, std::string>> pair_test_files(const std::vector<std::string>& prehistory,
                                                                 const std::vector<std::string>& inputs);

// One pair as a session log: the prehistory rows and the input rows, whose
// unknown columns (skips, pauses, seeks, context, reasons, hour, date) hold
// zeros. Sessions are numbered in the input file's order, which the
// submission follows. The session builders read only the track, position and
// length of the positions to predict, so the rows built from this log are
// those of the whole sessions. An input session with no prehistory is a
// DataError naming it.
SessionLog read_test_pair(const std::string& prehistory_path, const std::string& input_path, const ReadOptions& options);

}  // namespace skipper::data
