#include "tools/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "tools/web_page.h"

namespace skipper::tools {

namespace {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& field, const std::string& message) {
    json body = {{"error", message}};
    if (!field.empty()) body["field"] = field;
    send_json(res, status, body);
}

json probabilities_json(const std::vector<double>& probabilities) {
    json out = json::object();
    json skipped = json::array();
    for (const double p : probabilities) skipped.push_back(p >= 0.5);
    out["probabilities"] = probabilities;
    out["skipped"] = std::move(skipped);
    return out;
}

// The body of POST /api/v1/predict: {"features": {...}}, {"rows": [{...}, ...]}
// or, for a session model, {"session": [{...}, ...], "history": k}.
json answer_prediction(const Predictor& predictor, const json& request, int64_t max_rows) {
    if (!request.is_object()) throw FieldError("body", "expected a JSON object with \"features\", \"rows\" or \"session\"");
    const auto& fields = predictor.fields();
    std::vector<float> values;
    if (predictor.takes_sessions()) {
        const auto it = request.find("session");
        if (it == request.end())
            throw FieldError("session", "this lstm session model predicts whole sessions: send {\"session\": [{...}, ...]}");
        if (!it->is_array() || it->size() < 2)
            throw FieldError("session", "expected an array of at least 2 tracks, one object each");
        if (static_cast<int64_t>(it->size()) > max_rows)
            throw FieldError("session", "too many tracks (at most " + std::to_string(max_rows) + ")");
        const auto steps = static_cast<int64_t>(it->size());
        int64_t history = steps / 2;
        if (const auto h = request.find("history"); h != request.end()) {
            if (!h->is_number_integer() || h->get<int64_t>() < 1 || h->get<int64_t>() >= steps)
                throw FieldError("history", "expected an integer from 1 to " + std::to_string(steps - 1));
            history = h->get<int64_t>();
        }
        for (size_t i = 0; i < it->size(); ++i)
            encode_json_row(fields, (*it)[i], "session[" + std::to_string(i) + "].", values);
        json out = probabilities_json(predictor.predict_session(values, steps, history));
        out["history"] = history;
        return out;
    }
    if (const auto it = request.find("features"); it != request.end()) {
        encode_json_row(fields, *it, "features.", values);
        const double p = predictor.predict_rows(values, 1).at(0);
        json out = probabilities_json({p});
        out["probability"] = p;
        out["verdict"] = verdict_sentence(p);
        return out;
    }
    if (const auto it = request.find("rows"); it != request.end()) {
        if (!it->is_array() || it->empty()) throw FieldError("rows", "expected a non-empty array of objects");
        if (static_cast<int64_t>(it->size()) > max_rows)
            throw FieldError("rows", "too many rows (at most " + std::to_string(max_rows) + " per request)");
        values.reserve(it->size() * fields.size());
        for (size_t i = 0; i < it->size(); ++i)
            encode_json_row(fields, (*it)[i], "rows[" + std::to_string(i) + "].", values);
        return probabilities_json(predictor.predict_rows(values, static_cast<int64_t>(it->size())));
    }
    if (request.contains("session"))
        throw FieldError("session", "this model predicts single rows: send {\"features\": {...}} or {\"rows\": [...]}");
    throw FieldError("features", "expected \"features\" (one row) or \"rows\" (a batch)");
}

json model_json(const Predictor& predictor) {
    json fields = json::array();
    for (const auto& field : predictor.fields()) {
        json entry = {{"name", field.name}, {"type", field.categorical ? "categorical" : "numeric"}};
        if (field.categorical) entry["categories"] = field.categories;
        fields.push_back(std::move(entry));
    }
    return {{"learner", predictor.learner()},
            {"task", predictor.task()},
            {"input", predictor.takes_sessions() ? "session" : "row"},
            {"features", std::move(fields)},
            {"metadata", predictor.metadata()}};
}

}  // namespace

PredictionServer::PredictionServer(std::shared_ptr<const Predictor> predictor, ServerOptions options)
    : predictor_(std::move(predictor)), options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
    install_routes();
}

PredictionServer::~PredictionServer() { stop(); }

void PredictionServer::install_routes() {
    httplib::Server& http = *http_;
    const auto threads = static_cast<size_t>(options_.threads);
    // cpp-httplib takes ownership of the queue it is handed and deletes it.
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
    // Load balancers and wrk keep connections open; the default (5 requests)
    // would reconnect constantly. An idle connection holds its worker (and
    // delays stop()) for at most the 5 s timeout.
    http.set_keep_alive_max_count(100000);
    // The answer goes out as headers then body; with Nagle's algorithm the body
    // waits for the client's delayed ACK, some 40 ms per request.
    http.set_tcp_nodelay(true);
    // SO_REUSEADDR alone: cpp-httplib's default adds SO_REUSEPORT, which would
    // let a second server share a port already in use instead of failing.
    http.set_socket_options([](int socket) {
        const int yes = 1;
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http.set_keep_alive_timeout(5);

    http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200, {{"status", "ok"}});
    });
    http.Get("/api/v1/model", [this](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200, model_json(*predictor_));
    });
    http.Post("/api/v1/predict", [this](const httplib::Request& req, httplib::Response& res) {
        json request;
        try {
            request = json::parse(req.body);
        } catch (const json::parse_error& e) {
            send_error(res, 400, "body", std::string("invalid JSON: ") + e.what());
            return;
        }
        try {
            send_json(res, 200, answer_prediction(*predictor_, request, options_.max_batch_rows));
        } catch (const FieldError& e) {
            send_error(res, 400, e.field(), e.what());
        }
    });
    http.Get("/", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(render_form_page(*predictor_, {}, std::nullopt, ""), "text/html; charset=utf-8");
    });
    http.Post("/predict", [this](const httplib::Request& req, httplib::Response& res) {
        std::map<std::string, std::string> chosen;
        for (const auto& [key, value] : req.params) chosen[key] = value;
        try {
            if (predictor_->takes_sessions())
                throw FieldError("session", "this model predicts whole sessions: use POST /api/v1/predict");
            std::vector<float> row;
            encode_text_row(predictor_->fields(), chosen, row);
            const double p = predictor_->predict_rows(row, 1).at(0);
            res.set_content(render_form_page(*predictor_, chosen, Verdict{p}, ""), "text/html; charset=utf-8");
        } catch (const FieldError& e) {
            res.status = 400;
            res.set_content(render_form_page(*predictor_, chosen, std::nullopt, e.what()), "text/html; charset=utf-8");
        }
    });
    // Anything a handler did not expect (a model error, bad_alloc) is a 500
    // for that request alone.
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string message = "internal error";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            message += std::string(": ") + e.what();
        } catch (...) {
        }
        send_error(res, 500, "", message);
    });
    // 404, 405 and 413 (a body over max_body_bytes) get JSON bodies too.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = "HTTP " + std::to_string(res.status);
        if (res.status == 404) message = "no such page: " + req.path;
        if (res.status == 405) message = "method not allowed on " + req.path;
        if (res.status == 413) message = "request body too large";
        send_error(res, res.status, res.status == 413 ? "body" : "", message);
        return httplib::Server::HandlerResponse::Handled;
    }));
}

int PredictionServer::bind() {
    if (port_ >= 0) return port_;
    // A client that hangs up mid-answer must not kill the server with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    if (options_.port == 0) {
        port_ = http_->bind_to_any_port(options_.host);
    } else {
        port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
    }
    if (port_ < 0)
        throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                    " (address in use, or not an address of this machine)");
    return port_;
}

void PredictionServer::run() {
    bind();
    if (!http_->listen_after_bind()) throw Error("the server on port " + std::to_string(port_) + " stopped with an error");
}

int PredictionServer::start() {
    const int port = bind();
    background_ = std::thread([this] {
        http_->listen_after_bind();
        listen_returned_ = true;
    });
    while (!http_->is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (listen_returned_) throw Error("the server on port " + std::to_string(port) + " could not start");
    return port;
}

void PredictionServer::stop() {
    http_->stop();
    if (background_.joinable()) background_.join();
}

}  // namespace skipper::tools
