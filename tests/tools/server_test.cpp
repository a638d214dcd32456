// The prediction server on a free loopback port, answering good and bad
// requests for both learners' models; bad input never takes it down.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <nlohmann/json.hpp>

#include "tests/tools/http_client.h"
#include "tests/tools/tools_test_util.h"
#include "tools/server.h"
#include "tools/server_api.h"

namespace skipper::test {
namespace {

using nlohmann::json;

// One valid row of the 13 seed features, as a client would send it.
json seed_row(const std::string& reason_end) {
    return {{"context_switch", 0},
            {"is_paused_before_play", 1},
            {"hist_user_behavior_is_shuffle", true},
            {"hist_user_behavior_n_seekfwd", 0},
            {"hist_user_behavior_n_seekback", 0},
            {"released_from", 10},
            {"premium", true},
            {"session_length", 20},
            {"session_position", 3},
            {"hist_user_behavior_reason_start", "fwdbtn"},
            {"hist_user_behavior_reason_end", reason_end},
            {"hour_of_day", 18},
            {"context_type", "editorial_playlist"}};
}

HttpAnswer post_session_to_row_model(HttpClient& c) {
    return c.post("/api/v1/predict", json{{"history", json::array({json::object()})}, {"tracks", {"t"}}}.dump());
}

class GbdtServerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::make_unique<TempDir>();
        model_path_ = train_tiny_model(*dir_, "gbdt_seed.bin", "gbdt", {});
        predictor_ = tools::load_predictor(model_path_);
        tools::ServerOptions options;
        options.port = 0;
        options.threads = 4;
        options.max_body_bytes = 4096;
        server_ = std::make_unique<tools::PredictionServer>(predictor_, options);
        port_ = server_->start();
    }
    static void TearDownTestSuite() {
        server_.reset();
        predictor_.reset();
        dir_.reset();
    }

    static HttpClient client() { return HttpClient(port_); }

    static json post_json(const std::string& body, int expected_status) {
        HttpClient c(port_);
        const auto res = c.post("/api/v1/predict", body);
        EXPECT_TRUE(res.ok) << "no answer";
        if (!res.ok) return {};
        EXPECT_EQ(res.status, expected_status) << res.body;
        EXPECT_EQ(res.header("content-type"), "application/json");
        return json::parse(res.body);
    }

    static inline std::unique_ptr<TempDir> dir_;
    static inline std::string model_path_;
    static inline std::shared_ptr<const tools::Predictor> predictor_;
    static inline std::unique_ptr<tools::PredictionServer> server_;
    static inline int port_ = 0;
};

TEST_F(GbdtServerTest, HealthAndModelMetadata) {
    auto c = client();
    auto res = c.get("/healthz");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(json::parse(res.body)["status"], "ok");
    res = c.get("/api/v1/model");
    ASSERT_TRUE(res.ok);
    const auto model = json::parse(res.body);
    EXPECT_EQ(model["learner"], "gbdt");
    EXPECT_EQ(model["task"], "seed");
    ASSERT_EQ(model["features"].size(), 13u);
    bool found_context = false;
    for (const auto& f : model["features"])
        if (f["name"] == "context_type") {
            found_context = true;
            EXPECT_EQ(f["type"], "categorical");
            EXPECT_EQ(f["categories"].size(), 6u);
        }
    EXPECT_TRUE(found_context);
}

TEST_F(GbdtServerTest, OneRowMatchesTheModelAndFollowsTheLeak) {
    const auto skipped = post_json(json{{"features", seed_row("fwdbtn")}}.dump(), 200);
    const auto kept = post_json(json{{"features", seed_row("trackdone")}}.dump(), 200);
    const double p_skipped = skipped["probability"], p_kept = kept["probability"];
    EXPECT_GT(p_skipped, 0.5);
    EXPECT_LT(p_kept, 0.5);
    EXPECT_EQ(skipped["verdict"], "The track will be skipped");
    EXPECT_EQ(kept["verdict"], "The track will not be skipped");
    // The same row straight through the predictor gives the same probability.
    std::vector<float> row;
    tools::encode_json_row(predictor_->fields(), seed_row("fwdbtn"), "", row);
    EXPECT_DOUBLE_EQ(predictor_->predict_rows(row, 1)[0], p_skipped);
}

TEST_F(GbdtServerTest, BatchAnswersOneProbabilityPerRow) {
    json rows = json::array({seed_row("fwdbtn"), seed_row("trackdone"), seed_row("endplay")});
    rows[2]["premium"] = nullptr;  // missing values are allowed
    const auto answer = post_json(json{{"rows", rows}}.dump(), 200);
    ASSERT_EQ(answer["probabilities"].size(), 3u);
    for (const auto& p : answer["probabilities"]) {
        EXPECT_GE(p.get<double>(), 0.0);
        EXPECT_LE(p.get<double>(), 1.0);
    }
    EXPECT_EQ(answer["skipped"][0], true);
    EXPECT_EQ(answer["skipped"][1], false);
}

TEST_F(GbdtServerTest, BadInputIs400NamingTheField) {
    auto e = post_json("{\"features\": {", 400);
    EXPECT_EQ(e["field"], "body");
    EXPECT_NE(e["error"].get<std::string>().find("invalid JSON"), std::string::npos);

    json row = seed_row("fwdbtn");
    row.erase("premium");
    e = post_json(json{{"features", row}}.dump(), 400);
    EXPECT_EQ(e["field"], "features.premium");

    row = seed_row("fwdbtn");
    row["context_type"] = "podcast";
    e = post_json(json{{"features", row}}.dump(), 400);
    EXPECT_EQ(e["field"], "features.context_type");
    EXPECT_NE(e["error"].get<std::string>().find("editorial_playlist"), std::string::npos) << e.dump();

    row = seed_row("fwdbtn");
    row["hour_of_day"] = "noon";
    e = post_json(json{{"rows", json::array({seed_row("fwdbtn"), row})}}.dump(), 400);
    EXPECT_EQ(e["field"], "rows[1].hour_of_day");

    row = seed_row("fwdbtn");
    row["released_from"] = 1e300;  // beyond the model's f32 inputs
    e = post_json(json{{"features", row}}.dump(), 400);
    EXPECT_EQ(e["field"], "features.released_from");

    row = seed_row("fwdbtn");
    row["tempo"] = 120;
    e = post_json(json{{"features", row}}.dump(), 400);
    EXPECT_EQ(e["field"], "features.tempo");

    e = post_json(json{{"session", json::array({seed_row("fwdbtn"), seed_row("fwdbtn")})}}.dump(), 400);
    EXPECT_EQ(e["field"], "session");
    e = post_json("[1, 2, 3]", 400);
    EXPECT_EQ(e["field"], "body");
    e = post_json(json{{"rows", json::array()}}.dump(), 400);
    EXPECT_EQ(e["field"], "rows");
    e = post_json(json{{"features", 7}}.dump(), 400);
    EXPECT_EQ(e["field"], "features");
}

TEST_F(GbdtServerTest, OversizedBodyIs413AndUnknownPathsAre404) {
    auto c = client();
    const std::string huge(8192, ' ');
    auto res = c.post("/api/v1/predict", huge);
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 413);
    res = client().get("/nowhere");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 404);
    EXPECT_EQ(json::parse(res.body)["error"], "no such page: /nowhere");
    // Still serving after every bad request.
    res = client().get("/healthz");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 200);
}

TEST_F(GbdtServerTest, FormPageHasOneDropdownPerFeatureWithRealValues) {
    auto res = client().get("/");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 200);
    const std::string& page = res.body;
    for (const auto& field : predictor_->fields())
        EXPECT_NE(page.find("<select id=\"" + field.name + "\""), std::string::npos) << field.name;
    for (const char* value : {"editorial_playlist", "trackdone", "clickrow", "23:00"})
        EXPECT_NE(page.find(value), std::string::npos) << value;
    EXPECT_EQ(page.find("http://"), std::string::npos) << "the page must not load anything from the network";
}

TEST_F(GbdtServerTest, FormPostAnswersTheVerdict) {
    std::map<std::string, std::string> form;
    const json row = seed_row("fwdbtn");
    for (const auto& [key, value] : row.items()) {
        if (value.is_boolean()) form.emplace(key, value.get<bool>() ? "1" : "0");
        else form.emplace(key, value.is_string() ? value.get<std::string>() : value.dump());
    }
    const auto encode = [](const std::map<std::string, std::string>& values) {
        std::string body;
        for (const auto& [key, value] : values) {
            body += (body.empty() ? "" : "&") + key + "=";
            for (const char c : value) {
                char escaped[4];
                std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
                body += std::isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : std::string(escaped);
            }
        }
        return body;
    };
    auto res = client().post("/predict", encode(form), "application/x-www-form-urlencoded");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 200);
    EXPECT_NE(res.body.find("The track will be skipped"), std::string::npos);
    EXPECT_NE(res.body.find("skip probability"), std::string::npos);
    form.erase("premium");
    res = client().post("/predict", encode(form), "application/x-www-form-urlencoded");
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 400);
    EXPECT_NE(res.body.find("field &#39;premium&#39;: missing"), std::string::npos) << res.body;
}

TEST_F(GbdtServerTest, PortInUseIsAClearError) {
    tools::ServerOptions options;
    options.port = port_;
    tools::PredictionServer second(predictor_, options);
    EXPECT_THROW(second.bind(), Error);
}

// The lstm seed model answers rows on its network built once; a session
// model refuses rows (tests/tools/server_session_test.cpp covers sessions).
TEST(LstmServerTest, SeedModelAnswersRowsAndRepeatsItself) {
    TempDir dir;
    const std::shared_ptr<const tools::Predictor> seed =
        tools::load_predictor(train_tiny_model(dir, "lstm_seed.bin", "lstm", {"sessions=30"}));
    tools::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    tools::PredictionServer server(seed, options);
    HttpClient c(server.start());
    double first = -1.0;
    for (int i = 0; i < 4; ++i) {
        const auto res = c.post("/api/v1/predict", json{{"features", seed_row("fwdbtn")}}.dump());
        ASSERT_TRUE(res.ok);
        EXPECT_EQ(res.status, 200) << res.body;
        const double p = json::parse(res.body)["probability"];
        EXPECT_TRUE(p >= 0.0 && p <= 1.0);
        if (i == 0) first = p;
        EXPECT_DOUBLE_EQ(p, first) << "a reused network must answer as a fresh one";
    }
    std::vector<float> row;
    tools::encode_json_row(seed->fields(), seed_row("fwdbtn"), "", row);
    EXPECT_NEAR(seed->predict_rows(row, 1)[0], first, 1e-6);
    const auto session = post_session_to_row_model(c);
    EXPECT_EQ(session.status, 400);
    EXPECT_EQ(json::parse(session.body)["field"], "tracks");
}

// The parsing entry point the fuzz targets call: raw bytes in, an answer out.
TEST_F(GbdtServerTest, RawRequestBytesAreParsedAsTheServerParsesThem) {
    const tools::Api api(predictor_, nullptr, {4096, 100});
    auto answer = tools::answer_raw_request(api, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(answer.status, 200);
    const std::string body = json{{"features", seed_row("fwdbtn")}}.dump();
    answer = tools::answer_raw_request(api, "POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                            "application/json\r\nContent-Length: " +
                                                std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_GT(json::parse(answer.body)["probability"].get<double>(), 0.5);
    for (const std::string& junk : {std::string("\x00\x01garbage\r\n\r\n", 13), std::string("GET / HTTP/1.1\r\nHost"),
                                   std::string("POST /api/v1/predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}"),
                                   std::string("GET / HTTP/9.9\r\n\r\n"), std::string()}) {
        answer = tools::answer_raw_request(api, junk);
        EXPECT_EQ(answer.status, 400) << json(junk).dump() << answer.body;
        EXPECT_EQ(json::parse(answer.body)["field"], "request");
    }
    answer = tools::answer_raw_request(api, "POST /api/v1/predict HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" +
                                                std::string(5000, ' '));
    EXPECT_EQ(answer.status, 413);
    answer = tools::answer_raw_request(api, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(answer.status, 400);
}

TEST_F(GbdtServerTest, MetricsCountRequestsAndNameTheModel) {
    auto c = client();
    ASSERT_EQ(c.get("/healthz").status, 200);
    ASSERT_EQ(c.get("/nowhere").status, 404);
    const auto res = c.get("/metrics");
    ASSERT_EQ(res.status, 200);
    const std::string& text = res.body;
    EXPECT_NE(text.find("skipper_requests_total{route=\"/healthz\",status=\"200\"}"), std::string::npos) << text;
    EXPECT_NE(text.find("skipper_requests_total{route=\"other\",status=\"404\"}"), std::string::npos) << text;
    EXPECT_NE(text.find("skipper_request_duration_seconds_bucket{le=\"0.001\"}"), std::string::npos) << text;
    EXPECT_NE(text.find("skipper_request_duration_seconds_count"), std::string::npos) << text;
    const std::string checksum = predictor_->metadata().at("model_checksum");
    EXPECT_EQ(checksum.size(), 16u);
    EXPECT_NE(text.find("skipper_model_info{learner=\"gbdt\",task=\"seed\",checksum=\"" + checksum + "\"} 1"),
              std::string::npos)
        << text;
}

tools::ServerOptions test_options() {
    tools::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    return options;
}

TEST_F(GbdtServerTest, AccessLogHasOneLinePerRequest) {
    TempDir dir;
    auto options = test_options();
    options.access_log = dir.file("access.log");
    {
        tools::PredictionServer server(predictor_, options);
        HttpClient c(server.start());
        EXPECT_EQ(c.get("/healthz").status, 200);
        EXPECT_EQ(c.post("/api/v1/predict", json{{"features", seed_row("fwdbtn")}}.dump()).status, 200);
        EXPECT_EQ(c.get("/nowhere?x=1").status, 404);
    }
    std::istringstream lines(read_text(options.access_log));
    std::vector<std::string> got;
    for (std::string line; std::getline(lines, line);) got.push_back(line);
    ASSERT_EQ(got.size(), 3u) << read_text(options.access_log);
    const std::string expected[] = {"GET /healthz 200 ", "POST /api/v1/predict 200 ", "GET /nowhere 404 "};
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(got[i].rfind(expected[i], 0), 0u) << got[i];
        const std::string micros = got[i].substr(expected[i].size());
        EXPECT_FALSE(micros.empty());
        EXPECT_EQ(micros.find_first_not_of("0123456789"), std::string::npos) << got[i];
    }
}

TEST_F(GbdtServerTest, SlowHeaderAndSlowBodyAreCutAtTheirTimeouts) {
    auto options = test_options();
    options.header_timeout_s = 0.3;
    options.body_timeout_s = 0.3;
    tools::PredictionServer server(predictor_, options);
    const int port = server.start();
    HttpClient slow_header(port), slow_body(port), good(port);
    ASSERT_TRUE(slow_header.raw("GET /healthz HTTP/1.1\r\nHo"));
    ASSERT_TRUE(slow_body.raw("POST /api/v1/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"fea"));
    EXPECT_EQ(good.get("/healthz").status, 200);
    const auto begin = std::chrono::steady_clock::now();
    EXPECT_TRUE(slow_header.closed_by_server());
    EXPECT_TRUE(slow_body.closed_by_server());
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
    EXPECT_EQ(good.get("/healthz").status, 200);
}

TEST_F(GbdtServerTest, PastTheConnectionLimitNewConnectionsGet503) {
    auto options = test_options();
    options.max_connections = 3;
    tools::PredictionServer server(predictor_, options);
    const int port = server.start();
    std::vector<std::unique_ptr<HttpClient>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<HttpClient>(port));
        ASSERT_EQ(held.back()->get("/healthz").status, 200);  // open and kept alive
    }
    HttpClient extra(port);
    const auto refused = extra.get("/healthz");
    ASSERT_TRUE(refused.ok);
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(refused.header("connection"), "close");
    held.pop_back();  // one leaves; its place is free once the server sees it go
    int status = 0;
    for (int attempt = 0; attempt < 100 && status != 200; ++attempt) {
        status = HttpClient(port).get("/healthz").status;
        if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(status, 200);
}

// Many idle keep-alive connections and clients sending their header a byte at
// a time hold no thread: a new request is answered at once. (CI counts; the
// full 10,000 idle and 1,000 slow run is bench/load/idle_clients, by hand.)
TEST_F(GbdtServerTest, IdleAndSlowClientsDoNotDelayANewRequest) {
    tools::raise_open_file_limit();
    auto options = test_options();
    options.max_connections = 5000;
    tools::PredictionServer server(predictor_, options);
    const int port = server.start();
    constexpr int kIdle = 1000, kSlow = 100;
    std::vector<std::unique_ptr<HttpClient>> idle, slow;
    for (int i = 0; i < kIdle; ++i) {
        idle.push_back(std::make_unique<HttpClient>(port));
        ASSERT_TRUE(idle.back()->raw(""));  // connected, nothing sent
    }
    const std::string header = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    for (int i = 0; i < kSlow; ++i) {
        slow.push_back(std::make_unique<HttpClient>(port));
        ASSERT_TRUE(slow.back()->raw(header.substr(0, 1)));
    }
    std::vector<double> millis;
    for (int round = 0; round < 9; ++round) {
        for (auto& client : slow) ASSERT_TRUE(client->raw(std::string(1, header[static_cast<size_t>(round) + 1])));
        const auto begin = std::chrono::steady_clock::now();
        const auto res = HttpClient(port).post("/api/v1/predict", json{{"features", seed_row("fwdbtn")}}.dump());
        millis.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
        ASSERT_EQ(res.status, 200);
    }
    std::sort(millis.begin(), millis.end());
    EXPECT_LT(millis[millis.size() / 2], 50.0) << "median of " << millis.size() << " new requests";
    EXPECT_EQ(idle.front()->get("/healthz").status, 200) << "idle connections stay open";
}

TEST_F(GbdtServerTest, StopAnswersTheRequestInFlightThenRefusesNewOnes) {
    auto options = test_options();
    tools::PredictionServer server(predictor_, options);
    const int port = server.start();
    HttpClient in_flight(port), idle(port);
    ASSERT_EQ(idle.get("/healthz").status, 200);
    const std::string body = json{{"features", seed_row("fwdbtn")}}.dump();
    ASSERT_TRUE(in_flight.raw("POST /api/v1/predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the header is read: the request is in flight
    std::thread stopping([&] { server.stop(); });
    EXPECT_TRUE(idle.closed_by_server());
    EXPECT_FALSE(HttpClient(port).get("/healthz").ok) << "no new connections while stopping";
    ASSERT_TRUE(in_flight.raw(body.substr(10)));
    const auto answer = in_flight.read_answer();
    stopping.join();
    ASSERT_TRUE(answer.ok);
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(answer.header("connection"), "close");
}

TEST_F(GbdtServerTest, SigtermStopsRunGracefully) {
    tools::PredictionServer server(predictor_, test_options());
    const int port = server.bind();
    std::atomic<bool> returned = false;
    std::thread serving([&] {
        server.run();
        returned = true;
    });
    HttpClient c(port);
    int status = 0;
    for (int attempt = 0; attempt < 200 && status != 200; ++attempt) status = c.get("/healthz").status;
    ASSERT_EQ(status, 200);  // run() is serving: its signal handler is in place
    ::kill(::getpid(), SIGTERM);
    serving.join();
    EXPECT_TRUE(returned);
}

}  // namespace
}  // namespace skipper::test
