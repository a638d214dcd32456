// Training progress as the user sees it: a one-line bar with rate and ETA that
// redraws in place when the output is a terminal, and plain log lines (one per
// step, thinned on long runs) when it is a file or a pipe, so logs stay readable.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "trainer/training_log.h"

namespace skipper::tools {

class ProgressPrinter {
public:
    // `label` names the run, e.g. "gbdt seed"; `unit` is "iter" or "epoch".
    ProgressPrinter(std::ostream& out, bool is_terminal, std::string label, std::string unit);
    ProgressPrinter(const ProgressPrinter&) = delete;
    ProgressPrinter& operator=(const ProgressPrinter&) = delete;

    void update(const IterationRecord& record);
    // Ends the bar's line; safe to call when nothing was printed.
    void finish();
    // A callback for the learners' train functions; the printer must outlive it.
    ProgressCallback callback();

private:
    std::ostream& out_;
    bool is_terminal_;
    std::string label_;
    std::string unit_;
    bool line_open_ = false;
    std::chrono::steady_clock::time_point last_draw_{};
};

// True when the stream writes to a terminal (std::cout or std::cerr on a tty).
bool writes_to_terminal(const std::ostream& out);

// "1m05s", "12.3s": short human durations for ETAs and summaries.
std::string format_duration(double seconds);

}  // namespace skipper::tools
