#include "tools/server.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <list>
#include <map>
#include <optional>
#include <thread>

#include "engine/error.h"
#include "tools/server_api.h"

namespace skipper::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

int64_t raise_open_file_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur == RLIM_INFINITY ? int64_t{1} << 20 : static_cast<int64_t>(limit.rlim_cur);
}

namespace {

std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// The access log: one line per request, written by the network thread alone.
class AccessLog {
public:
    explicit AccessLog(const std::string& where) {
        if (where == "off") return;
        if (where == "stdout") {
            file_ = stdout;
            return;
        }
        file_ = std::fopen(where.c_str(), "a");
        if (file_ == nullptr) throw ParamError("access_log", "cannot open '" + where + "' for appending");
        owned_ = true;
        std::setvbuf(file_, nullptr, _IOLBF, 1 << 16);
    }
    ~AccessLog() {
        if (owned_) std::fclose(file_);
    }
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    void write(std::string_view method, std::string_view target, int status, int64_t micros) {
        if (file_ == nullptr) return;
        // The path as sent, with anything that could forge a log line replaced.
        std::string path(target.substr(0, std::min<size_t>(target.find('?'), 512)));
        for (char& c : path)
            if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) c = '?';
        std::fprintf(file_, "%.*s %s %d %lld\n", static_cast<int>(std::min<size_t>(method.size(), 16)), method.data(),
                     path.c_str(), status, static_cast<long long>(micros));
        if (!owned_) std::fflush(file_);
    }

private:
    std::FILE* file_ = nullptr;
    bool owned_ = false;
};

// Prometheus counters, updated and read by the network thread alone.
class Metrics {
public:
    static constexpr std::array<double, 14> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                         0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    5.0};

    void record(std::string_view route, int status, double seconds) {
        ++requests_[{std::string(route), status}];
        for (size_t i = 0; i < kBuckets.size(); ++i)
            if (seconds <= kBuckets[i]) ++buckets_[i];
        ++count_;
        sum_ += seconds;
    }
    void rejected() { ++rejected_; }

    std::string render(const Predictor& predictor, int64_t open_connections) const {
        std::string out;
        char line[256];
        out += "# HELP skipper_requests_total Requests answered, by route and status.\n";
        out += "# TYPE skipper_requests_total counter\n";
        for (const auto& [key, count] : requests_) {
            std::snprintf(line, sizeof line, "skipper_requests_total{route=\"%s\",status=\"%d\"} %lld\n",
                          key.first.c_str(), key.second, static_cast<long long>(count));
            out += line;
        }
        out += "# HELP skipper_request_duration_seconds From a request's first byte to its answer written.\n";
        out += "# TYPE skipper_request_duration_seconds histogram\n";
        for (size_t i = 0; i < kBuckets.size(); ++i) {
            std::snprintf(line, sizeof line, "skipper_request_duration_seconds_bucket{le=\"%g\"} %lld\n", kBuckets[i],
                          static_cast<long long>(buckets_[i]));
            out += line;
        }
        std::snprintf(line, sizeof line,
                      "skipper_request_duration_seconds_bucket{le=\"+Inf\"} %lld\n"
                      "skipper_request_duration_seconds_sum %.9f\nskipper_request_duration_seconds_count %lld\n",
                      static_cast<long long>(count_), sum_, static_cast<long long>(count_));
        out += line;
        out += "# HELP skipper_connections_open Connections open now.\n# TYPE skipper_connections_open gauge\n";
        out += "skipper_connections_open " + std::to_string(open_connections) + "\n";
        out += "# HELP skipper_connections_rejected_total Connections answered 503 past max_connections.\n";
        out += "# TYPE skipper_connections_rejected_total counter\n";
        out += "skipper_connections_rejected_total " + std::to_string(rejected_) + "\n";
        const auto metadata = predictor.metadata();
        const auto checksum = metadata.find("model_checksum");
        out += "# HELP skipper_model_info The model being served.\n# TYPE skipper_model_info gauge\n";
        out += "skipper_model_info{learner=\"" + predictor.learner() + "\",task=\"" + predictor.task() +
               "\",checksum=\"" + (checksum == metadata.end() ? "" : checksum->second) + "\"} 1\n";
        return out;
    }

private:
    std::map<std::pair<std::string, int>, int64_t> requests_;
    std::array<int64_t, kBuckets.size()> buckets_{};
    int64_t count_ = 0;
    double sum_ = 0.0;
    int64_t rejected_ = 0;
};

}  // namespace

class PredictionServer::Impl {
public:
    Impl(std::shared_ptr<const Predictor> predictor, ServerOptions options, std::shared_ptr<const SessionInput> sessions)
        : options_(std::move(options)),
          api_(std::move(predictor), std::move(sessions), {options_.max_body_bytes, options_.max_batch_rows}),
          pool_(static_cast<size_t>(options_.threads > 0 ? options_.threads
                                                         : std::max(1u, std::thread::hardware_concurrency()))),
          access_log_(options_.access_log),
          acceptor_(ioc_) {}

    ~Impl() { stop(); }

    int bind();
    void serve(bool handle_signals);
    int start();
    void stop();
    int port() const { return port_; }

private:
    class Session;
    friend class Session;

    void accept();
    void shutdown();
    void reject(tcp::socket socket);

    ServerOptions options_;
    Api api_;
    asio::thread_pool pool_;
    AccessLog access_log_;
    Metrics metrics_;
    // Declared before the loop, so that sessions still held by its handlers
    // when it is destroyed can leave the list.
    std::list<std::weak_ptr<Session>> sessions_;
    int64_t open_ = 0;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::optional<asio::signal_set> signals_;
    asio::steady_timer accept_retry_{ioc_};
    int64_t max_connections_ = 0;
    bool shutting_down_ = false;
    int port_ = -1;
    std::thread background_;
};

// One connection: waits for a request, reads it, answers it, and again while
// the client keeps it alive. Every step runs on the network thread; only
// Api::handle of a model-running request runs on the pool.
class PredictionServer::Impl::Session : public std::enable_shared_from_this<Session> {
public:
    Session(Impl& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

    void begin(std::list<std::weak_ptr<Session>>::iterator self) {
        self_ = self;
        ++server_.open_;
        wait_request();
    }
    ~Session() {
        --server_.open_;
        server_.sessions_.erase(self_);
    }

    // Shutdown: a connection between requests, or still reading a header, is
    // closed; one reading a body, running or writing finishes its answer.
    void shutdown() {
        closing_ = true;
        if (state_ == State::idle || state_ == State::header) {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream_.close();
        }
    }

private:
    enum class State { idle, header, body, running, writing };

    void wait_request() {
        state_ = State::idle;
        if (closing_) return close();
        if (buffer_.size() > 0) return read_header();  // a pipelined request
        stream_.expires_after(seconds(server_.options_.idle_timeout_s));
        stream_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](beast::error_code error, size_t n) {
            if (error) return self->close();
            self->buffer_.commit(n);
            self->read_header();
        });
    }

    void read_header() {
        state_ = State::header;
        started_ = Clock::now();
        parser_.emplace();
        parser_->header_limit(kMaxHeaderBytes);
        parser_->body_limit(static_cast<uint64_t>(server_.options_.max_body_bytes));
        stream_.expires_after(seconds(server_.options_.header_timeout_s));
        http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code error, size_t) {
            if (error) return self->refuse(error);
            if (self->parser_->is_done()) return self->dispatch();
            self->state_ = State::body;
            self->stream_.expires_after(seconds(self->server_.options_.body_timeout_s));
            // A client that asks (curl does, for bodies over 1 KiB) waits for this before it sends the body.
            if (beast::iequals(self->parser_->get()[http::field::expect], "100-continue")) {
                static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
                asio::async_write(self->stream_, asio::buffer(go_on), [self](beast::error_code write_error, size_t) {
                    if (write_error) return self->close();
                    self->read_body();
                });
                return;
            }
            self->read_body();
        });
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code error, size_t) {
            if (error) return self->refuse(error);
            self->dispatch();
        });
    }

    // A request that could not be read: answered when the client can still
    // hear it (too large, malformed), then the connection is closed.
    void refuse(const beast::error_code& error) {
        keep_alive_ = false;
        if (error == http::error::body_limit) return answer(error_response(413, "body", "request body too large"));
        if (error == http::error::header_limit) return answer(error_response(431, "request", "request header too large"));
        if (error.category() == http::make_error_code(http::error::bad_target).category() && error != http::error::end_of_stream &&
            error != http::error::partial_message)
            return answer(error_response(400, "request", "malformed HTTP request: " + error.message()));
        close();  // the client left, or timed out
    }

    void dispatch() {
        auto& message = parser_->get();
        method_ = std::string(message.method_string());
        target_ = std::string(message.target());
        keep_alive_ = message.keep_alive();
        ApiRequest request{method_, target_, std::string(message[http::field::content_type]), std::move(message.body())};
        if (route_of(target_) == "/metrics" && (method_ == "GET" || method_ == "HEAD"))
            return answer({200, "text/plain; version=0.0.4",
                           server_.metrics_.render(server_.api_.predictor(), server_.open_)});
        if (!Api::runs_model(request)) return answer(server_.api_.handle(request));
        state_ = State::running;
        // The work guard keeps the network thread's loop alive until the answer is back.
        asio::post(server_.pool_, [self = shared_from_this(), request = std::move(request),
                                   work = asio::make_work_guard(server_.ioc_)]() mutable {
            // Pool threads run the model with one OpenMP thread: the pool is the parallelism.
            static thread_local const bool one_thread = (omp_set_num_threads(1), true);
            (void)one_thread;
            ApiResponse response = self->server_.api_.handle(request);
            // The session moves to the network thread: its last owner must not be a pool thread.
            Impl& server = self->server_;
            asio::post(server.ioc_, [self = std::move(self), response = std::move(response)]() mutable {
                self->answer(std::move(response));
            });
        });
    }

    void answer(ApiResponse answer) {
        state_ = State::writing;
        response_ = {};
        response_.result(static_cast<unsigned>(answer.status));
        response_.set(http::field::server, "skipper");
        response_.set(http::field::content_type, answer.content_type);
        response_.body() = std::move(answer.body);
        response_.keep_alive(keep_alive_ && !closing_);
        response_.prepare_payload();
        if (method_ == "HEAD") response_.body().clear();
        stream_.expires_after(seconds(server_.options_.body_timeout_s));
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code error, size_t) {
            self->finished(error);
        });
    }

    void finished(const beast::error_code& error) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
        const int status = static_cast<int>(response_.result_int());
        server_.metrics_.record(route_of(target_), status, static_cast<double>(micros) * 1e-6);
        server_.access_log_.write(method_.empty() ? "-" : method_, target_.empty() ? "-" : target_, status, micros);
        method_.clear();
        target_.clear();
        if (error || !response_.keep_alive()) return close();
        wait_request();
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.close();
    }

    Impl& server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    std::list<std::weak_ptr<Session>>::iterator self_;
    State state_ = State::idle;
    bool keep_alive_ = true;
    bool closing_ = false;
    Clock::time_point started_ = Clock::now();
    std::string method_, target_;
};

int PredictionServer::Impl::bind() {
    if (port_ >= 0) return port_;
    // A client that hangs up mid-answer must not kill the server with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    max_connections_ = std::min<int64_t>(options_.max_connections, raise_open_file_limit() - 64);
    beast::error_code error;
    const auto address = asio::ip::make_address(options_.host, error);
    const auto fail = [&](const std::string& why) {
        return Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + " (" + why + ")");
    };
    if (error) throw fail("not an IP address");
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_.open(endpoint.protocol(), error);
    // SO_REUSEADDR alone (no SO_REUSEPORT): a second server on a port in use fails.
    if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
        acceptor_.close();
        throw fail(error == asio::error::address_in_use ? "address in use" : error.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return port_;
}

void PredictionServer::Impl::accept() {
    acceptor_.async_accept(ioc_, [this](beast::error_code error, tcp::socket socket) {
        if (shutting_down_) return;
        if (error) {
            // Out of descriptors, say: try again shortly rather than spin.
            accept_retry_.expires_after(std::chrono::milliseconds(10));
            accept_retry_.async_wait([this](beast::error_code) {
                if (!shutting_down_) accept();
            });
            return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);  // no 40 ms wait for the client's delayed ACK
        if (open_ >= max_connections_) {
            reject(std::move(socket));
        } else {
            auto session = std::make_shared<Session>(*this, std::move(socket));
            sessions_.push_front(session);
            session->begin(sessions_.begin());
        }
        accept();
    });
}

void PredictionServer::Impl::reject(tcp::socket socket) {
    metrics_.rejected();
    static const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "Content-Length: 40\r\n\r\n{\"error\": \"too many connections, retry\"}";
    auto held = std::make_shared<tcp::socket>(std::move(socket));
    asio::async_write(*held, asio::buffer(answer), [held](beast::error_code, size_t) {
        beast::error_code ignored;
        held->shutdown(tcp::socket::shutdown_send, ignored);
        held->close(ignored);
    });
}

void PredictionServer::Impl::shutdown() {
    if (shutting_down_) return;
    shutting_down_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    if (signals_) signals_->cancel(ignored);
    for (const auto& weak : sessions_)
        if (const auto session = weak.lock()) session->shutdown();
}

void PredictionServer::Impl::serve(bool handle_signals) {
    bind();
    if (handle_signals) {
        signals_.emplace(ioc_, SIGINT, SIGTERM);
        signals_->async_wait([this](beast::error_code error, int) {
            if (!error) shutdown();
        });
    }
    accept();
    ioc_.run();
    pool_.join();
}

int PredictionServer::Impl::start() {
    const int port = bind();
    background_ = std::thread([this] { serve(false); });
    return port;
}

void PredictionServer::Impl::stop() {
    if (!background_.joinable()) return;
    asio::post(ioc_, [this] { shutdown(); });
    background_.join();
}

PredictionServer::PredictionServer(std::shared_ptr<const Predictor> predictor, ServerOptions options,
                                   std::shared_ptr<const SessionInput> sessions)
    : impl_(std::make_unique<Impl>(std::move(predictor), std::move(options), std::move(sessions))) {}

PredictionServer::~PredictionServer() = default;

int PredictionServer::bind() { return impl_->bind(); }
void PredictionServer::run() { impl_->serve(true); }
int PredictionServer::start() { return impl_->start(); }
void PredictionServer::stop() { impl_->stop(); }
int PredictionServer::port() const { return impl_->port(); }

}  // namespace skipper::tools
