// The `skipper` command: subcommands run, gen, train, eval, predict, serve,
// report and version, LightGBM-style key=value parameters (also from
// config=FILE), --help on each built from the parameter tables. Errors are
// caught here, at the edge, and turned into a message and an exit code:
// 0 success, 1 failure, 2 bad usage.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "engine/error.h"

namespace skipper::tools {

// A command line that cannot be run as written: exit code 2.
class UsageError : public Error {
public:
    using Error::Error;
};

enum ExitCode : int { kExitSuccess = 0, kExitFailure = 1, kExitUsage = 2 };

// `args` excludes the program name. Results go to `out`, progress, warnings
// and errors to `err`.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace skipper::tools
