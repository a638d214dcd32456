// A small synchronous HTTP/1.1 client for the server tests, on Boost.Beast:
// one keep-alive connection to 127.0.0.1:port, reopened when the server
// closes it. `raw` sends bytes as they are (malformed and partial requests).
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>
#include <string>

namespace skipper::test {

struct HttpAnswer {
    bool ok = false;  // an answer came back
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names

    std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

class HttpClient {
public:
    explicit HttpClient(int port) : port_(port) {}

    HttpAnswer get(const std::string& target) { return request("GET", target, "", ""); }
    HttpAnswer post(const std::string& target, const std::string& body,
                    const std::string& content_type = "application/json") {
        return request("POST", target, body, content_type);
    }

    HttpAnswer request(const std::string& method, const std::string& target, const std::string& body,
                       const std::string& content_type) {
        namespace http = boost::beast::http;
        http::request<http::string_body> req(http::string_to_verb(method), target, 11);
        req.set(http::field::host, "127.0.0.1");
        if (!content_type.empty()) req.set(http::field::content_type, content_type);
        req.body() = body;
        req.prepare_payload();
        for (int attempt = 0; attempt < 2; ++attempt) {
            boost::system::error_code error;
            if (!socket_) connect(error);
            if (!error) http::write(*socket_, req, error);
            if (error) {
                socket_.reset();
                continue;  // the server closed a kept-alive connection: once more on a new one
            }
            return read_answer();
        }
        return {};
    }

    // Sends `bytes` as they are on the current connection (opening one).
    bool raw(const std::string& bytes) {
        boost::system::error_code error;
        if (!socket_) connect(error);
        if (!error) boost::asio::write(*socket_, boost::asio::buffer(bytes), error);
        return !error;
    }

    // Reads one answer from the current connection.
    HttpAnswer read_answer() {
        namespace http = boost::beast::http;
        HttpAnswer answer;
        if (!socket_) return answer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(1 << 26);
        boost::system::error_code error;
        http::read(*socket_, buffer_, parser, error);
        if (error) {
            socket_.reset();
            return answer;
        }
        const auto& res = parser.get();
        answer.ok = true;
        answer.status = static_cast<int>(res.result_int());
        answer.body = res.body();
        for (const auto& field : res) {
            std::string name(field.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            answer.headers[name] = std::string(field.value());
        }
        if (!res.keep_alive()) socket_.reset();
        return answer;
    }

    // True when the server has closed this connection (reads end of stream).
    bool closed_by_server() {
        if (!socket_) return true;
        char byte;
        boost::system::error_code error;
        boost::asio::read(*socket_, boost::asio::buffer(&byte, 1), error);
        if (error) socket_.reset();
        return static_cast<bool>(error);
    }

private:
    void connect(boost::system::error_code& error) {
        socket_.emplace(io_);
        buffer_.clear();
        socket_->connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, error);
        if (error) socket_.reset();
    }

    int port_;
    boost::asio::io_context io_;
    std::optional<boost::asio::ip::tcp::socket> socket_;
    boost::beast::flat_buffer buffer_;
};

}  // namespace skipper::test
