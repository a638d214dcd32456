#include "tools/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace skipper::tools {

namespace {

// Terminal redraws are capped at 10 per second: a fast GBDT iterates far more often.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 24;

std::string format_metrics(const IterationRecord& record) {
    std::string text;
    char buffer[96];
    for (const auto& [name, value] : record.metrics) {
        std::snprintf(buffer, sizeof buffer, " %s=%.4f", name.c_str(), value);
        text += buffer;
    }
    return text;
}

// Plain logs print every step of short runs and about 20 lines for long ones.
bool worth_logging(const IterationRecord& record) {
    if (record.total <= 20 || record.iteration <= 1 || record.iteration >= record.total) return true;
    const int64_t stride = (record.total + 19) / 20;
    return record.iteration % stride == 0;
}

}  // namespace

ProgressPrinter::ProgressPrinter(std::ostream& out, bool is_terminal, std::string label, std::string unit)
    : out_(out), is_terminal_(is_terminal), label_(std::move(label)), unit_(std::move(unit)) {}

void ProgressPrinter::update(const IterationRecord& record) {
    const double rate = record.seconds > 0 ? static_cast<double>(record.iteration) / record.seconds : 0.0;
    char head[160];
    if (!is_terminal_) {
        if (!worth_logging(record)) return;
        std::snprintf(head, sizeof head, "[%s] %s %lld/%lld  %.1fs", label_.c_str(), unit_.c_str(),
                      static_cast<long long>(record.iteration), static_cast<long long>(record.total), record.seconds);
        out_ << head << format_metrics(record) << '\n' << std::flush;
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool last = record.iteration >= record.total;
    if (!last && line_open_ && now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    const double fraction = record.total > 0 ? static_cast<double>(record.iteration) / record.total : 1.0;
    const int filled = static_cast<int>(std::lround(fraction * kBarWidth));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kBarWidth, '.');
    const double eta = rate > 0 ? static_cast<double>(record.total - record.iteration) / rate : 0.0;
    std::snprintf(head, sizeof head, "\r[%s] [%s] %lld/%lld %s  %.1f %s/s  ETA %s", label_.c_str(), bar.c_str(),
                  static_cast<long long>(record.iteration), static_cast<long long>(record.total), unit_.c_str(), rate,
                  unit_.c_str(), format_duration(eta).c_str());
    // \x1b[K clears what a longer previous line left behind.
    out_ << head << format_metrics(record) << "\x1b[K" << std::flush;
    line_open_ = true;
}

void ProgressPrinter::finish() {
    if (line_open_) out_ << '\n' << std::flush;
    line_open_ = false;
}

ProgressCallback ProgressPrinter::callback() {
    return [this](const IterationRecord& record) { update(record); };
}

bool writes_to_terminal(const std::ostream& out) {
    if (&out == &std::cout) return isatty(STDOUT_FILENO) == 1;
    if (&out == &std::cerr) return isatty(STDERR_FILENO) == 1;
    return false;
}

std::string format_duration(double seconds) {
    char buffer[32];
    if (seconds < 60) {
        std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
    } else {
        const long long whole = std::llround(seconds);
        if (whole < 3600) std::snprintf(buffer, sizeof buffer, "%lldm%02llds", whole / 60, whole % 60);
        else std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", whole / 3600, (whole % 3600) / 60);
    }
    return buffer;
}

}  // namespace skipper::tools
