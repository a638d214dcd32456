// What the prediction server answers, apart from the network: one request in
// (method, target, content type, body), one response out. The HTTP stack
// (tools/server.cpp) only moves bytes; the fuzz targets and the tests call
// this directly.
//
// Routes: GET / (the form page), POST /predict (the form), POST
// /api/v1/predict (JSON: one row, a batch, or a session), GET /api/v1/model,
// GET /healthz. GET /metrics is the server's own (it counts its traffic).
// Bad input is a 400 naming the field, an oversized body a 413, an unknown
// path a 404, a wrong method a 405, anything unexpected a 500; handle() never
// throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "tools/predictor.h"
#include "tools/session_input.h"

namespace skipper::tools {

// The largest request header (request line and fields) the server reads.
inline constexpr size_t kMaxHeaderBytes = 8192;

struct ApiLimits {
    int64_t max_body_bytes = 1 << 20;
    int64_t max_batch_rows = 10000;
};

struct ApiRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, as sent
    std::string content_type;
    std::string body;
};

struct ApiResponse {
    int status = 200;
    std::string content_type;
    std::string body;
};

// The route a path belongs to, for metrics and logs: one of "/", "/predict",
// "/api/v1/predict", "/api/v1/model", "/healthz", "/metrics", or "other".
std::string_view route_of(std::string_view target);

class Api {
public:
    // `sessions` (null for a model that does not take sessions) turns session
    // requests into the model's input, with the server's track table.
    Api(std::shared_ptr<const Predictor> predictor, std::shared_ptr<const SessionInput> sessions, ApiLimits limits);

    ApiResponse handle(const ApiRequest& request) const;
    // True for requests that run the model (POST /api/v1/predict, POST
    // /predict): the server runs these on its prediction pool.
    static bool runs_model(const ApiRequest& request);

    const Predictor& predictor() const { return *predictor_; }
    const ApiLimits& limits() const { return limits_; }

private:
    ApiResponse predict_json(const ApiRequest& request) const;
    ApiResponse predict_form(const ApiRequest& request) const;

    std::shared_ptr<const Predictor> predictor_;
    std::shared_ptr<const SessionInput> sessions_;
    ApiLimits limits_;
};

// A JSON error body: {"error": message, "field": field} (no field when empty).
ApiResponse error_response(int status, const std::string& field, const std::string& message);

// Parses `bytes` as one HTTP/1.1 request, with the server's own parser and
// limits (Boost.Beast's; header at most 8 KiB, body at most
// limits().max_body_bytes), and answers it as the server would. A request
// that cannot be parsed is a 400 naming what was wrong ("field": "request"),
// a body over the limit a 413. Never throws: this is the fuzz target's entry.
ApiResponse answer_raw_request(const Api& api, std::string_view bytes);

// Decodes an application/x-www-form-urlencoded body ("a=1&b=x+y%21").
// Malformed escapes are FieldErrors naming the form field.
std::map<std::string, std::string> parse_form(std::string_view body);

}  // namespace skipper::tools
