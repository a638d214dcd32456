// The prediction server: the form page (GET /, POST /predict), the JSON API
// (POST /api/v1/predict, GET /api/v1/model), and GET /healthz, on cpp-httplib.
// Every handler catches its own errors: bad input is a 400 naming the field,
// an oversized body a 413, anything unexpected a 500; none stops the server.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "tools/predictor.h"

namespace httplib {
class Server;
}

namespace skipper::tools {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0 picks a free port
    // One worker per keep-alive connection: cpp-httplib serves a connection on
    // one thread until it closes, so fewer workers than clients queue them.
    int64_t threads = 64;
    int64_t max_body_bytes = 1 << 20;
    int64_t max_batch_rows = 10000;
};

class PredictionServer {
public:
    PredictionServer(std::shared_ptr<const Predictor> predictor, ServerOptions options);
    ~PredictionServer();
    PredictionServer(const PredictionServer&) = delete;
    PredictionServer& operator=(const PredictionServer&) = delete;

    // Binds the listening socket and returns the port (the chosen one when
    // options.port is 0); throws Error when the address cannot be bound.
    int bind();
    // Serves until stop(); binds first if bind() was not called.
    void run();
    // bind() and run() on a background thread; returns the port.
    int start();
    void stop();
    int port() const { return port_; }

private:
    void install_routes();

    std::shared_ptr<const Predictor> predictor_;
    ServerOptions options_;
    std::unique_ptr<httplib::Server> http_;
    std::thread background_;
    std::atomic<bool> listen_returned_ = false;
    int port_ = -1;
};

}  // namespace skipper::tools
