#include "tools/web_page.h"

#include <cmath>
#include <cstdio>

namespace skipper::tools {

namespace {

std::string number_text(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

std::vector<FormOption> range_options(double first, double last, double step, const std::string& suffix = "") {
    std::vector<FormOption> options;
    const auto count = static_cast<int64_t>(std::floor((last - first) / step + 1e-9)) + 1;
    for (int64_t i = 0; i < count; ++i) {
        const std::string text = number_text(first + static_cast<double>(i) * step);
        options.push_back({text, text + suffix});
    }
    return options;
}

std::vector<FormOption> yes_no() { return {{"0", "no"}, {"1", "yes"}}; }

bool one_of(const std::string& name, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (name == n) return true;
    return false;
}

bool contains(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

// Human-readable names for the MSSD columns' terse ones.
std::string field_label(const std::string& name) {
    static const std::map<std::string, std::string> labels = {
        {"context_switch", "Context switch"},
        {"is_paused_before_play", "Paused before play"},
        {"hist_user_behavior_is_shuffle", "Shuffle"},
        {"hist_user_behavior_n_seekfwd", "Seeks forward"},
        {"hist_user_behavior_n_seekback", "Seeks back"},
        {"released_from", "Years since release (2022 - release year)"},
        {"premium", "Premium"},
        {"session_length", "Session length"},
        {"session_position", "Position in session"},
        {"hist_user_behavior_reason_start", "Reason the track started"},
        {"hist_user_behavior_reason_end", "Reason the track ended"},
        {"hour_of_day", "Hour of day"},
        {"context_type", "Context type"},
    };
    const auto it = labels.find(name);
    return it != labels.end() ? it->second : name;
}

}  // namespace

std::vector<FormOption> form_options(const FeatureField& field) {
    const std::string& name = field.name;
    if (field.categorical) {
        std::vector<FormOption> options;
        for (const auto& category : field.categories) options.push_back({category, category});
        return options;
    }
    if (one_of(name, {"context_switch", "is_paused_before_play", "hist_user_behavior_is_shuffle", "premium",
                      "no_pause_before_play", "short_pause_before_play", "long_pause_before_play", "skip_1", "skip_2",
                      "skip_3", "not_skipped"}) ||
        contains(name, "last_skip") || contains(name, "is_history"))
        return yes_no();
    if (one_of(name, {"hist_user_behavior_n_seekfwd", "hist_user_behavior_n_seekback"})) return range_options(0, 10, 1);
    if (name == "released_from") return range_options(4, 72, 1, " years");
    if (name == "release_year") return range_options(1950, 2018, 1);
    if (name == "session_length") return range_options(10, 20, 1);
    if (one_of(name, {"session_position", "position"})) return range_options(1, 20, 1);
    if (name == "hour_of_day") return range_options(0, 23, 1, ":00");
    if (name == "key") return range_options(0, 11, 1);
    if (name == "time_signature") return range_options(0, 5, 1);
    if (name == "mode") return {{"0", "minor"}, {"1", "major"}};
    if (name == "duration") return range_options(30, 600, 30, " s");
    if (name == "us_popularity_estimate") return range_options(90, 100, 1);
    if (name == "tempo") return range_options(60, 200, 10, " bpm");
    if (name == "loudness") return range_options(-30, 0, 3, " dB");
    if (name == "dyn_range_mean") return range_options(0, 40, 5);
    if (name.rfind("acoustic_vector_", 0) == 0) return range_options(-1, 1, 0.25);
    if (one_of(name, {"acousticness", "beat_strength", "bounciness", "danceability", "energy", "flatness",
                      "instrumentalness", "liveness", "mechanism", "organism", "speechiness", "valence"}) ||
        contains(name, "rate"))
        return range_options(0, 1, 0.1);
    if (name == "prediction_offset") return range_options(1, 10, 1);
    // RMS distances between standardised feature vectors, and their differences.
    if (contains(name, "distance_difference")) return range_options(-2, 2, 0.25);
    if (contains(name, "distance")) return range_options(0, 3, 0.25);
    return {};
}

std::string verdict_sentence(double probability) {
    return probability >= 0.5 ? "The track will be skipped" : "The track will not be skipped";
}

std::string html_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string render_form_page(const Predictor& predictor, const std::map<std::string, std::string>& chosen,
                             const std::optional<Verdict>& verdict, const std::string& error) {
    std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Skipper: will the track be skipped?</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem}form{display:grid;grid-template-columns:1fr 1fr;gap:.5rem 1rem;align-items:center}
label{font-size:.95rem}select,input{font-size:1rem;padding:.2rem}
button{grid-column:1/3;font-size:1.1rem;padding:.5rem;background:#1db954;color:#fff;border:0;border-radius:4px;cursor:pointer}
#verdict{font-size:1.3rem;font-weight:600;padding:.8rem;border-radius:4px;margin:1rem 0}
.skipped{background:#fde2e1}.kept{background:#dff5e4}.error{background:#fff3cd;padding:.6rem}
small{color:#555}
</style></head><body>
<h1>Will the track be skipped?</h1>
)";
    html += "<p><small>Model: " + html_escape(predictor.learner()) + ", " + html_escape(predictor.task()) +
            " task, " + std::to_string(predictor.fields().size()) + " features.</small></p>\n";
    if (verdict) {
        char probability[64];
        std::snprintf(probability, sizeof probability, "%.1f%%", 100.0 * verdict->probability);
        html += std::string("<div id=\"verdict\" class=\"") + (verdict->probability >= 0.5 ? "skipped" : "kept") +
                "\">" + verdict_sentence(verdict->probability) + " <span id=\"probability\">(skip probability " +
                probability + ")</span></div>\n";
    }
    if (!error.empty()) html += "<div id=\"error\" class=\"error\">" + html_escape(error) + "</div>\n";
    if (!predictor.takes_rows()) {
        html += "<p>This model reads a whole session. Send it to <code>POST /api/v1/predict</code> as "
                "<code>{\"history\": [log rows], \"tracks\": [track ids]}</code>: the history's rows with the "
                "session log's columns, and the ids of the tracks to predict.</p>\n";
        return html + "</body></html>\n";
    }
    html += "<form method=\"post\" action=\"/predict\">\n";
    for (const auto& field : predictor.fields()) {
        const std::string id = html_escape(field.name);
        html += "<label for=\"" + id + "\">" + html_escape(field_label(field.name)) + "</label>";
        const auto options = form_options(field);
        const auto it = chosen.find(field.name);
        if (options.empty()) {
            const std::string value = it != chosen.end() ? it->second : "0";
            html += "<input type=\"number\" step=\"any\" id=\"" + id + "\" name=\"" + id + "\" value=\"" +
                    html_escape(value) + "\">\n";
            continue;
        }
        html += "<select id=\"" + id + "\" name=\"" + id + "\">";
        for (const auto& option : options) {
            const bool selected = it != chosen.end() && it->second == option.value;
            html += "<option value=\"" + html_escape(option.value) + "\"" + (selected ? " selected" : "") + ">" +
                    html_escape(option.label) + "</option>";
        }
        html += "</select>\n";
    }
    html += "<button type=\"submit\" id=\"predict\">Predict</button>\n</form>\n";
    html += "<p><small>JSON API: <code>POST /api/v1/predict</code> with <code>{\"features\": {...}}</code> or "
            "<code>{\"rows\": [...]}</code>; model details at <a href=\"/api/v1/model\">/api/v1/model</a>.</small></p>\n";
    return html + "</body></html>\n";
}

}  // namespace skipper::tools
