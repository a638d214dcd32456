#include "tools/server_api.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "tools/web_page.h"

namespace skipper::tools {

namespace {

using nlohmann::json;
namespace http = boost::beast::http;

ApiResponse json_response(int status, const json& body) {
    // Invalid UTF-8 in a value echoed back (an unknown field name) is replaced, not thrown.
    return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

ApiResponse html_response(int status, std::string page) { return {status, "text/html; charset=utf-8", std::move(page)}; }

json probabilities_json(const std::vector<double>& probabilities) {
    json skipped = json::array();
    for (const double p : probabilities) skipped.push_back(p >= 0.5);
    return {{"probabilities", probabilities}, {"skipped", std::move(skipped)}};
}

json model_json(const Predictor& predictor) {
    json fields = json::array();
    for (const auto& field : predictor.fields()) {
        json entry = {{"name", field.name}, {"type", field.categorical ? "categorical" : "numeric"}};
        if (field.categorical) entry["categories"] = field.categories;
        fields.push_back(std::move(entry));
    }
    json input = json::array();
    if (predictor.takes_rows()) input.push_back("row");
    if (predictor.takes_sessions()) input.push_back("session");
    return {{"learner", predictor.learner()}, {"task", predictor.task()},         {"input", std::move(input)},
            {"features", std::move(fields)},   {"metadata", predictor.metadata()}};
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view text, const std::string& field) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%') {
            const int hi = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
            const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
            if (hi < 0 || lo < 0) throw FieldError(field, "malformed %-escape in the form data");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> values;
    while (!body.empty()) {
        const size_t end = body.find('&');
        const std::string_view pair = body.substr(0, end);
        body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
        if (pair.empty()) continue;
        const size_t equals = pair.find('=');
        const std::string name = url_decode(pair.substr(0, equals), "form");
        values[name] = equals == std::string_view::npos ? "" : url_decode(pair.substr(equals + 1), name);
    }
    return values;
}

ApiResponse error_response(int status, const std::string& field, const std::string& message) {
    json body = {{"error", message}};
    if (!field.empty()) body["field"] = field;
    return json_response(status, body);
}

std::string_view route_of(std::string_view target) {
    const std::string_view path = path_of(target);
    for (const std::string_view route : {"/", "/predict", "/api/v1/predict", "/api/v1/model", "/healthz", "/metrics"})
        if (path == route) return route;
    return "other";
}

Api::Api(std::shared_ptr<const Predictor> predictor, std::shared_ptr<const SessionInput> sessions, ApiLimits limits)
    : predictor_(std::move(predictor)), sessions_(std::move(sessions)), limits_(limits) {}

bool Api::runs_model(const ApiRequest& request) {
    const std::string_view route = route_of(request.target);
    return request.method == "POST" && (route == "/api/v1/predict" || route == "/predict");
}

ApiResponse Api::handle(const ApiRequest& request) const {
    const std::string_view route = route_of(request.target);
    const bool get = request.method == "GET" || request.method == "HEAD";
    try {
        if (static_cast<int64_t>(request.body.size()) > limits_.max_body_bytes)
            return error_response(413, "body", "request body too large");
        if (route == "/healthz" && get) return json_response(200, {{"status", "ok"}});
        if (route == "/api/v1/model" && get) return json_response(200, model_json(*predictor_));
        if (route == "/" && get) return html_response(200, render_form_page(*predictor_, {}, std::nullopt, ""));
        if (route == "/api/v1/predict" && request.method == "POST") return predict_json(request);
        if (route == "/predict" && request.method == "POST") return predict_form(request);
        if (route == "other") return error_response(404, "", "no such page: " + std::string(path_of(request.target)));
        return error_response(405, "", "method not allowed on " + std::string(path_of(request.target)));
    } catch (const FieldError& e) {
        return error_response(400, e.field(), e.what());
    } catch (const std::exception& e) {
        // A model error or bad_alloc is a 500 for this request alone.
        return error_response(500, "", std::string("internal error: ") + e.what());
    } catch (...) {
        return error_response(500, "", "internal error");
    }
}

// The body of POST /api/v1/predict: {"features": {...}} (one row), {"rows":
// [{...}, ...]} (a batch), or, for a session model, {"history": [...],
// "tracks": [...]} (tools/session_input.h).
ApiResponse Api::predict_json(const ApiRequest& request) const {
    json body;
    try {
        body = json::parse(request.body);
    } catch (const json::parse_error& e) {
        return error_response(400, "body", std::string("invalid JSON: ") + e.what());
    }
    if (!body.is_object())
        throw FieldError("body", "expected a JSON object with \"features\", \"rows\" or \"history\" and \"tracks\"");
    const Predictor& predictor = *predictor_;
    const auto& fields = predictor.fields();
    std::vector<float> values;
    if (body.contains("history") || body.contains("tracks") || body.contains("session")) {
        if (!predictor.takes_sessions())
            throw FieldError(body.contains("tracks") ? "tracks" : body.contains("history") ? "history" : "session",
                             "this model predicts single rows: send {\"features\": {...}} or {\"rows\": [...]}");
        if (body.contains("session"))
            throw FieldError("session", "send the session as {\"history\": [log rows], \"tracks\": [track ids]}");
        if (!sessions_)
            throw FieldError("tracks", "this server has no track table: start it with tracks=FILE to answer sessions");
        data::MssdData session = sessions_->session(body);
        std::vector<double> probabilities;
        try {
            probabilities = predictor.predict_session(session, sessions_->standardiser());
        } catch (const DataError& e) {
            throw FieldError("tracks", e.what());
        }
        json out = probabilities_json(probabilities);
        out["history"] = body["history"].size();
        return json_response(200, out);
    }
    if (!predictor.takes_rows())
        throw FieldError("history", "this model predicts whole sessions: send {\"history\": [log rows], \"tracks\": "
                                    "[track ids]}");
    if (const auto it = body.find("features"); it != body.end()) {
        encode_json_row(fields, *it, "features.", values);
        const double p = predictor.predict_rows(values, 1).at(0);
        json out = probabilities_json({p});
        out["probability"] = p;
        out["verdict"] = verdict_sentence(p);
        return json_response(200, out);
    }
    if (const auto it = body.find("rows"); it != body.end()) {
        if (!it->is_array() || it->empty()) throw FieldError("rows", "expected a non-empty array of objects");
        if (static_cast<int64_t>(it->size()) > limits_.max_batch_rows)
            throw FieldError("rows", "too many rows (at most " + std::to_string(limits_.max_batch_rows) + " per request)");
        values.reserve(it->size() * fields.size());
        for (size_t i = 0; i < it->size(); ++i)
            encode_json_row(fields, (*it)[i], "rows[" + std::to_string(i) + "].", values);
        return json_response(200, probabilities_json(predictor.predict_rows(values, static_cast<int64_t>(it->size()))));
    }
    throw FieldError("features", "expected \"features\" (one row) or \"rows\" (a batch)");
}

ApiResponse Api::predict_form(const ApiRequest& request) const {
    std::map<std::string, std::string> chosen;
    try {
        chosen = parse_form(request.body);
        if (!predictor_->takes_rows())
            throw FieldError("session", "this model predicts whole sessions: use POST /api/v1/predict");
        std::vector<float> row;
        encode_text_row(predictor_->fields(), chosen, row);
        const double p = predictor_->predict_rows(row, 1).at(0);
        return html_response(200, render_form_page(*predictor_, chosen, Verdict{p}, ""));
    } catch (const FieldError& e) {
        return html_response(400, render_form_page(*predictor_, chosen, std::nullopt, e.what()));
    }
}

ApiResponse answer_raw_request(const Api& api, std::string_view bytes) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(static_cast<uint64_t>(api.limits().max_body_bytes));
    parser.eager(true);
    boost::beast::error_code error;
    size_t used = 0;
    while (!parser.is_done() && used < bytes.size()) {
        const size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), error);
        used += n;
        if (error == http::error::need_more) error = {};
        else if (error) break;
        if (n == 0) break;  // the rest is an incomplete header
    }
    if (!error && parser.got_some() && !parser.is_done()) parser.put_eof(error);
    if (error == http::error::body_limit) return error_response(413, "body", "request body too large");
    if (error) return error_response(400, "request", "malformed HTTP request: " + error.message());
    if (!parser.got_some() || !parser.is_done())
        return error_response(400, "request", "malformed HTTP request: no complete request");
    const auto& message = parser.get();
    ApiRequest request{std::string(message.method_string()), std::string(message.target()),
                       std::string(message[http::field::content_type]), message.body()};
    return api.handle(request);
}

}  // namespace skipper::tools
