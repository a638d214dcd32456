// The prediction server: tools/server_api.h's routes over HTTP/1.1 on
// Boost.Beast and Asio. One event-driven network thread holds every
// connection (idle keep-alive ones cost a socket and a small buffer, no
// thread); requests that run the model go to a small fixed pool of prediction
// threads, each running its model with one OpenMP thread.
//
// Against slow or hostile clients: an idle keep-alive connection is closed
// after idle_timeout_s, a request's header must arrive within
// header_timeout_s of its first byte and its body within body_timeout_s;
// past max_connections a new connection is answered 503 and closed.
// Shutdown (stop(), or SIGTERM/SIGINT in run()) stops accepting, closes idle
// connections, and answers every request already being read or run before
// the server returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tools/predictor.h"
#include "tools/session_input.h"

namespace skipper::tools {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;        // 0 picks a free port
    int64_t threads = 0;    // prediction threads; 0 = one per core
    int64_t max_body_bytes = 1 << 20;
    int64_t max_batch_rows = 10000;
    int64_t max_connections = 20000;  // also bounded by the open-file limit
    double idle_timeout_s = 60.0;
    double header_timeout_s = 10.0;
    double body_timeout_s = 30.0;
    // One line per request: method, path, status, microseconds. "off",
    // "stdout", or a file to append to.
    std::string access_log = "off";
};

class PredictionServer {
public:
    // `sessions` (null when the model takes no sessions) builds session requests' input.
    PredictionServer(std::shared_ptr<const Predictor> predictor, ServerOptions options,
                     std::shared_ptr<const SessionInput> sessions = nullptr);
    ~PredictionServer();
    PredictionServer(const PredictionServer&) = delete;
    PredictionServer& operator=(const PredictionServer&) = delete;

    // Binds the listening socket and returns the port (the chosen one when
    // options.port is 0); throws Error when the address cannot be bound.
    int bind();
    // Serves until SIGTERM or SIGINT (or stop()), then shuts down gracefully
    // and returns. Binds first if bind() was not called.
    void run();
    // bind() and serve on a background thread (no signal handling); returns the port.
    int start();
    // Graceful shutdown; returns once every in-flight request is answered.
    void stop();
    int port() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

// Raises this process's soft limit on open files to its hard limit (the
// server and the load tools hold one descriptor per connection); returns the
// new soft limit.
int64_t raise_open_file_limit();

}  // namespace skipper::tools
