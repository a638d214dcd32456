#include "tools/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "tools/web_page.h"

namespace skipper::tools {

namespace {

// ---------------------------------------------------------------- SVG drawing

constexpr double kWidth = 680, kHeight = 300;
constexpr double kLeft = 60, kRight = 20, kTop = 20, kBottom = 60;
const char* const kPalette[] = {"#1db954", "#e4572e", "#3066be", "#f3a712", "#8e44ad", "#29335c", "#a8c686"};

std::string num(double value, int digits = 1) {
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    return buffer;
}

std::string percent(double value) { return std::isnan(value) ? "n/a" : num(100.0 * value, 1) + "%"; }

// A round step for axis ticks (1, 2 or 5 times a power of ten).
double nice_step(double range, int ticks) {
    const double raw = range / ticks;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * power) return m * power;
    return 10 * power;
}

struct Series {
    std::string name;
    std::vector<double> values;
};

std::string legend(const std::vector<std::string>& names) {
    std::string svg;
    double x = kLeft;
    for (size_t i = 0; i < names.size(); ++i) {
        svg += "<rect x=\"" + num(x) + "\" y=\"4\" width=\"10\" height=\"10\" fill=\"" + kPalette[i % 7] + "\"/>";
        svg += "<text x=\"" + num(x + 14) + "\" y=\"13\" font-size=\"11\">" + html_escape(names[i]) + "</text>";
        x += 24 + 7.0 * static_cast<double>(names[i].size());
    }
    return svg;
}

std::string svg_open(const std::string& title) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + num(kWidth, 0) + " " + num(kHeight, 0) +
           "\" role=\"img\" aria-label=\"" + html_escape(title) + "\" font-family=\"sans-serif\">";
}

// The y axis from 0 to `top`, with grid lines and labels (`as_percent` for rates).
std::string y_axis(double top, bool as_percent, const std::string& label) {
    std::string svg;
    const double plot_h = kHeight - kTop - kBottom;
    const double step = nice_step(top, 5);
    for (double v = 0; v <= top + 1e-9; v += step) {
        const double y = kHeight - kBottom - plot_h * v / top;
        svg += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kWidth - kRight) + "\" y1=\"" + num(y) + "\" y2=\"" +
               num(y) + "\" stroke=\"#ddd\"/>";
        const std::string text = as_percent ? num(100 * v, 0) + "%" : (step < 1 ? num(v, 2) : num(v, 0));
        svg += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y + 4) + "\" font-size=\"11\" text-anchor=\"end\">" +
               text + "</text>";
    }
    svg += "<text transform=\"translate(14," + num(kTop + plot_h / 2) +
           ") rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">" + html_escape(label) + "</text>";
    return svg;
}

// Grouped bars: one group per label, one bar per series.
std::string bar_chart(const std::string& title, const std::vector<std::string>& groups,
                      const std::vector<Series>& series, bool as_percent, const std::string& y_label) {
    double top = 0;
    for (const auto& s : series)
        for (const double v : s.values)
            if (std::isfinite(v)) top = std::max(top, v);
    top = top > 0 ? top * 1.1 : 1.0;
    if (as_percent) top = std::min(1.0, top);
    std::string svg = svg_open(title) + y_axis(top, as_percent, y_label);
    std::vector<std::string> names;
    for (const auto& s : series) names.push_back(s.name);
    if (series.size() > 1) svg += legend(names);
    const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
    const double group_w = plot_w / static_cast<double>(std::max<size_t>(groups.size(), 1));
    const double bar_w = group_w * 0.8 / static_cast<double>(std::max<size_t>(series.size(), 1));
    for (size_t g = 0; g < groups.size(); ++g) {
        const double x0 = kLeft + group_w * static_cast<double>(g) + group_w * 0.1;
        for (size_t s = 0; s < series.size(); ++s) {
            const double v = g < series[s].values.size() ? series[s].values[g] : NAN;
            if (!std::isfinite(v)) continue;
            const double h = plot_h * v / top;
            const double x = x0 + bar_w * static_cast<double>(s);
            svg += "<rect x=\"" + num(x) + "\" y=\"" + num(kHeight - kBottom - h) + "\" width=\"" + num(bar_w - 1) +
                   "\" height=\"" + num(h) + "\" fill=\"" + kPalette[s % 7] + "\"><title>" +
                   html_escape(groups[g] + ", " + series[s].name + ": " + (as_percent ? percent(v) : num(v, 0))) +
                   "</title></rect>";
        }
        svg += "<text x=\"" + num(x0 + group_w * 0.4) + "\" y=\"" + num(kHeight - kBottom + 16) +
               "\" font-size=\"11\" text-anchor=\"middle\">" + html_escape(groups[g]) + "</text>";
    }
    return svg + "</svg>";
}

struct Line {
    std::string name;
    std::vector<double> x, y;
};

std::string line_chart(const std::string& title, const std::vector<Line>& lines, const std::string& x_label,
                       const std::string& y_label) {
    double x_max = 1, y_min = INFINITY, y_max = -INFINITY;
    for (const auto& line : lines) {
        for (const double x : line.x) x_max = std::max(x_max, x);
        for (const double y : line.y)
            if (std::isfinite(y)) {
                y_min = std::min(y_min, y);
                y_max = std::max(y_max, y);
            }
    }
    if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
    // Axis from 0 keeps curves honest; a flat curve still gets some height.
    y_min = std::min(0.0, y_min);
    const double top = y_max > y_min ? y_max * 1.05 : y_min + 1;
    std::string svg = svg_open(title) + y_axis(top, false, y_label);
    std::vector<std::string> names;
    for (const auto& line : lines) names.push_back(line.name);
    svg += legend(names);
    const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
    for (size_t i = 0; i < lines.size(); ++i) {
        std::string points;
        for (size_t k = 0; k < lines[i].x.size() && k < lines[i].y.size(); ++k) {
            if (!std::isfinite(lines[i].y[k])) continue;
            const double px = kLeft + plot_w * lines[i].x[k] / x_max;
            const double py = kHeight - kBottom - plot_h * (lines[i].y[k] - 0.0) / top;
            points += num(px) + "," + num(py) + " ";
        }
        svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string(kPalette[i % 7]) + "\" points=\"" +
               points + "\"><title>" + html_escape(lines[i].name) + "</title></polyline>";
    }
    const double step = nice_step(x_max, 8);
    for (double x = 0; x <= x_max + 1e-9; x += step)
        svg += "<text x=\"" + num(kLeft + plot_w * x / x_max) + "\" y=\"" + num(kHeight - kBottom + 16) +
               "\" font-size=\"11\" text-anchor=\"middle\">" + num(x, 0) + "</text>";
    svg += "<text x=\"" + num(kLeft + plot_w / 2) + "\" y=\"" + num(kHeight - 20) +
           "\" font-size=\"12\" text-anchor=\"middle\">" + html_escape(x_label) + "</text>";
    return svg + "</svg>";
}

std::string importance_chart(const std::string& title, const std::vector<std::string>& names,
                             const std::vector<double>& values) {
    std::vector<size_t> order(std::min(names.size(), values.size()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] > values[b]; });
    if (order.size() > 25) order.resize(25);
    const double row_h = 20, label_w = 260, width = kWidth;
    const double height = 20 + row_h * static_cast<double>(order.size());
    double top = 0;
    for (const size_t i : order) top = std::max(top, values[i]);
    if (top <= 0) top = 1;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + num(width, 0) + " " +
                      num(height, 0) + "\" role=\"img\" aria-label=\"" + html_escape(title) +
                      "\" font-family=\"sans-serif\">";
    double y = 10;
    for (const size_t i : order) {
        const double w = (width - label_w - 80) * values[i] / top;
        svg += "<text x=\"" + num(label_w - 6) + "\" y=\"" + num(y + 14) + "\" font-size=\"11\" text-anchor=\"end\">" +
               html_escape(names[i]) + "</text>";
        svg += "<rect x=\"" + num(label_w) + "\" y=\"" + num(y + 3) + "\" width=\"" + num(w) + "\" height=\"" +
               num(row_h - 6) + "\" fill=\"#1db954\"/>";
        svg += "<text x=\"" + num(label_w + w + 4) + "\" y=\"" + num(y + 14) + "\" font-size=\"11\">" +
               num(100 * values[i] / top, 1) + "</text>";
        y += row_h;
    }
    return svg + "</svg>";
}

std::string confusion_chart(const metrics::ConfusionMatrix& c) {
    const double cells[2][2] = {{static_cast<double>(c.true_negative), static_cast<double>(c.false_positive)},
                                {static_cast<double>(c.false_negative), static_cast<double>(c.true_positive)}};
    const double total = std::max<double>(1.0, static_cast<double>(c.total()));
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 420 300\" role=\"img\" "
                      "aria-label=\"confusion matrix\" font-family=\"sans-serif\">";
    const char* names[2] = {"not skipped", "skipped"};
    for (int r = 0; r < 2; ++r) {
        svg += "<text x=\"110\" y=\"" + num(95 + 110 * r) + "\" font-size=\"12\" text-anchor=\"end\">" + names[r] +
               "</text>";
        svg += "<text x=\"" + num(175 + 110 * r) + "\" y=\"30\" font-size=\"12\" text-anchor=\"middle\">" + names[r] +
               "</text>";
        for (int k = 0; k < 2; ++k) {
            const double share = cells[r][k] / total;
            const double x = 120 + 110 * k, y = 40 + 110 * r;
            svg += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"108\" height=\"108\" fill=\"" +
                   std::string(r == k ? "#1db954" : "#e4572e") + "\" fill-opacity=\"" + num(0.15 + 0.85 * share, 2) +
                   "\"/>";
            svg += "<text x=\"" + num(x + 54) + "\" y=\"" + num(y + 52) +
                   "\" font-size=\"16\" font-weight=\"600\" text-anchor=\"middle\">" + num(cells[r][k], 0) + "</text>";
            svg += "<text x=\"" + num(x + 54) + "\" y=\"" + num(y + 72) + "\" font-size=\"11\" text-anchor=\"middle\">" +
                   percent(share) + "</text>";
        }
    }
    svg += "<text x=\"230\" y=\"14\" font-size=\"12\" text-anchor=\"middle\">predicted</text>";
    svg += "<text transform=\"translate(16,150) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">actual</text>";
    return svg + "</svg>";
}

// ---------------------------------------------------------------- the data's views

struct Rate {
    double skipped = 0, total = 0;
    double value() const { return total > 0 ? skipped / total : NAN; }
};

int64_t track_column(const std::string& name) {
    const auto& columns = data::track_feature_columns();
    const auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end()) throw Error("report: the track table has no column '" + name + "'");
    return it - columns.begin();
}

// is_skipped = !not_skipped, the label of the original analysis.
std::vector<uint8_t> skipped_flags(const data::SessionLog& log) {
    const uint8_t* not_skipped = log.not_skipped.data<uint8_t>();
    std::vector<uint8_t> out(static_cast<size_t>(log.rows));
    for (int64_t i = 0; i < log.rows; ++i) out[static_cast<size_t>(i)] = not_skipped[i] ? 0 : 1;
    return out;
}

std::string figure(const std::string& id, const std::string& title, const std::string& note, const std::string& svg) {
    return "<figure id=\"" + id + "\"><figcaption><h3>" + html_escape(title) + "</h3>" +
           (note.empty() ? "" : "<p>" + note + "</p>") + "</figcaption>" + svg + "</figure>\n";
}

std::string exploratory_charts(const data::MssdData& mssd) {
    const auto& log = mssd.log;
    const auto skipped = skipped_flags(log);
    std::string html;

    const int32_t* context = log.context_type.data<int32_t>();
    const uint8_t* premium = log.premium.data<uint8_t>();
    std::vector<Rate> by_context(log.context_type_names.size() * 2);
    Rate shuffle[2], pause[3];
    const uint8_t* shuffled = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const uint8_t* short_pause = log.short_pause_before_play.data<uint8_t>();
    const uint8_t* long_pause = log.long_pause_before_play.data<uint8_t>();
    for (int64_t i = 0; i < log.rows; ++i) {
        const double s = skipped[static_cast<size_t>(i)];
        auto& c = by_context[static_cast<size_t>(context[i]) * 2 + (premium[i] ? 1 : 0)];
        c.skipped += s, c.total += 1;
        shuffle[shuffled[i] ? 1 : 0].skipped += s, shuffle[shuffled[i] ? 1 : 0].total += 1;
        const int p = long_pause[i] ? 2 : short_pause[i] ? 1 : 0;
        pause[p].skipped += s, pause[p].total += 1;
    }
    Series free_users{"free", {}}, premium_users{"premium", {}};
    for (size_t k = 0; k < log.context_type_names.size(); ++k) {
        free_users.values.push_back(by_context[k * 2].value());
        premium_users.values.push_back(by_context[k * 2 + 1].value());
    }
    html += figure("skip-by-context-premium", "Skip rate by context type and premium", "",
                   bar_chart("skip rate by context type and premium", log.context_type_names,
                             {free_users, premium_users}, true, "skip rate"));
    html += figure("skip-by-shuffle", "Skip rate by shuffle", "",
                   bar_chart("skip rate by shuffle", {"shuffle off", "shuffle on"},
                             {{"skip rate", {shuffle[0].value(), shuffle[1].value()}}}, true, "skip rate"));
    html += figure("skip-by-pause", "Skip rate by pause before play", "",
                   bar_chart("skip rate by pause before play", {"no pause", "short pause", "long pause"},
                             {{"skip rate", {pause[0].value(), pause[1].value(), pause[2].value()}}}, true,
                             "skip rate"));

    // Durations of the played tracks, 30-second bins up to 10 minutes.
    const int64_t duration_col = track_column("duration");
    const int64_t columns = static_cast<int64_t>(data::track_feature_columns().size());
    const float* tracks = mssd.tracks.values.data<float>();
    const int32_t* track_row = mssd.track_row.data<int32_t>();
    constexpr int kBins = 20;
    Series kept{"not skipped", std::vector<double>(kBins, 0.0)}, skips{"skipped", std::vector<double>(kBins, 0.0)};
    for (int64_t i = 0; i < log.rows; ++i) {
        const float seconds = tracks[static_cast<int64_t>(track_row[i]) * columns + duration_col];
        if (!std::isfinite(seconds)) continue;
        const int bin = static_cast<int>(std::clamp(seconds / 30.0f, 0.0f, static_cast<float>(kBins - 1)));
        (skipped[static_cast<size_t>(i)] ? skips : kept).values[static_cast<size_t>(bin)] += 1;
    }
    std::vector<std::string> bins;
    for (int b = 0; b < kBins; ++b) bins.push_back(b % 2 == 0 ? num(b * 0.5, 0) + "m" : "");
    html += figure("duration-by-skip", "Track duration, split by skip", "Plays per 30-second bin; the last bin holds 9.5 minutes and longer.",
                   bar_chart("duration histogram by skip", bins, {kept, skips}, false, "plays"));

    // Time signature by mode, over the tracks of the catalogue.
    const int64_t signature_col = track_column("time_signature");
    const int64_t mode_col = track_column("mode");
    constexpr int kSignatures = 6;
    Series minor{"minor", std::vector<double>(kSignatures, 0.0)}, major{"major", std::vector<double>(kSignatures, 0.0)};
    for (int64_t t = 0; t < mssd.tracks.rows(); ++t) {
        const float signature = tracks[t * columns + signature_col];
        const float mode = tracks[t * columns + mode_col];
        if (!std::isfinite(signature) || !std::isfinite(mode)) continue;
        const int s = static_cast<int>(std::clamp(signature, 0.0f, static_cast<float>(kSignatures - 1)));
        (mode > 0.5f ? major : minor).values[static_cast<size_t>(s)] += 1;
    }
    std::vector<std::string> signatures;
    for (int s = 0; s < kSignatures; ++s) signatures.push_back(std::to_string(s));
    html += figure("time-signature-by-mode", "Time signature by mode", "Tracks in the catalogue.",
                   bar_chart("time signature by mode", signatures, {minor, major}, false, "tracks"));
    return html;
}

std::string training_charts(const std::vector<TrainingCurves>& runs) {
    std::string html;
    for (const auto& run : runs) {
        std::map<std::string, Line> loss, metric;
        for (const auto& record : run.log.records)
            for (const auto& [name, value] : record.metrics) {
                auto& lines = name.find("loss") != std::string::npos ? loss : metric;
                auto& line = lines[name];
                line.name = name;
                line.x.push_back(static_cast<double>(record.iteration));
                line.y.push_back(value);
            }
        const auto values = [](const std::map<std::string, Line>& m) {
            std::vector<Line> out;
            for (const auto& [name, line] : m) out.push_back(line);
            return out;
        };
        std::string charts;
        if (!loss.empty()) charts += line_chart(run.title + " loss", values(loss), run.unit, "log loss");
        if (!metric.empty()) charts += line_chart(run.title + " metrics", values(metric), run.unit, "metric");
        if (charts.empty()) charts = "<p>No per-" + run.unit + " records.</p>";
        html += "<div class=\"curve\"><h4>" + html_escape(run.title) + "</h4>" + charts + "</div>\n";
    }
    return html;
}

std::string results_table(const std::vector<ResultRow>& results) {
    static const std::vector<std::pair<std::string, std::string>> columns = {
        {"accuracy", "accuracy"}, {"auc", "AUC"},           {"logloss", "log loss"},
        {"aa", "AA"},             {"first_accuracy", "first"}};
    std::string html = "<table><thead><tr><th>task</th><th>learner</th>";
    for (const auto& column : columns) html += "<th>" + column.second + "</th>";
    html += "<th>training</th></tr></thead><tbody>\n";
    for (const auto& row : results) {
        html += "<tr><td>" + html_escape(row.task) + "</td><td>" + html_escape(row.learner) + "</td>";
        for (const auto& column : columns) {
            const auto it = row.metrics.find(column.first);
            html += "<td>" + (it == row.metrics.end() || std::isnan(it->second) ? std::string() : num(it->second, 4)) +
                    "</td>";
        }
        html += "<td>" + (row.seconds > 0 ? num(row.seconds, 1) + " s" : std::string()) + "</td></tr>\n";
    }
    return html + "</tbody></table>\n";
}

}  // namespace

const std::vector<std::string>& report_chart_ids() {
    static const std::vector<std::string> ids = {
        "skip-by-context-premium", "skip-by-shuffle",  "skip-by-pause",      "duration-by-skip",
        "time-signature-by-mode",  "training-curves", "feature-importance", "confusion-matrix"};
    return ids;
}

std::string render_report(const ReportInputs& inputs) {
    if (inputs.data == nullptr) throw Error("report: no data to chart");
    std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Skipper report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
figure{margin:1.5rem 0;padding:.5rem 1rem;border:1px solid #e5e5e5;border-radius:6px}
figure h3{margin:.2rem 0;font-size:1.05rem}figure p{margin:.2rem 0;color:#555;font-size:.9rem}
svg{width:100%;height:auto;max-width:680px;display:block}.curve h4{margin:.8rem 0 .2rem}
table{border-collapse:collapse;font-size:.95rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right}
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
.warning{background:#fff3cd;padding:.6rem;border-radius:4px}
</style></head><body>
<h1>Skipper report</h1>
)";
    html += "<p>Data: " + html_escape(inputs.data_description) + ".</p>\n";
    for (const auto& warning : inputs.warnings)
        html += "<p class=\"warning\">" + std::string(warning.rfind("warning", 0) == 0 ? "" : "Warning: ") +
                html_escape(warning) + "</p>\n";
    if (!inputs.results.empty()) html += "<h2>Results on held-out data</h2>\n" + results_table(inputs.results);
    html += "<h2>The data</h2>\n" + exploratory_charts(*inputs.data);
    html += "<h2>Training</h2>\n";
    html += "<figure id=\"training-curves\"><figcaption><h3>Training curves</h3><p>Loss and metrics per iteration "
            "(gbdt) or epoch (lstm); valid_* are measured on the held-out part.</p></figcaption>" +
            training_charts(inputs.curves) + "</figure>\n";
    html += figure("feature-importance", "Feature importance", html_escape(inputs.importance_title) + " (largest = 100)",
                   importance_chart("feature importance", inputs.importance_names, inputs.importance_values));
    html += figure("confusion-matrix", "Confusion matrix", html_escape(inputs.confusion_title),
                   inputs.confusion ? confusion_chart(*inputs.confusion) : "<p>No confusion matrix.</p>");
    return html + "</body></html>\n";
}

}  // namespace skipper::tools
