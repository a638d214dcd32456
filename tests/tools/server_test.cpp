// The prediction server on a free loopback port, answering good and bad
// requests for both learners' models; bad input never takes it down.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/tools/tools_test_util.h"
#include "tools/server.h"

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

    httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }

    static json post_json(const std::string& body, int expected_status) {
        httplib::Client c("127.0.0.1", port_);
        const auto res = c.Post("/api/v1/predict", body, "application/json");
        EXPECT_TRUE(res) << "no answer";
        if (!res) return {};
        EXPECT_EQ(res->status, expected_status) << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
        return json::parse(res->body);
    }

    static inline std::unique_ptr<TempDir> dir_;
    static inline std::string model_path_;
    static inline std::shared_ptr<const tools::Predictor> predictor_;
    static inline std::unique_ptr<tools::PredictionServer> server_;
    static inline int port_ = 0;
};

TEST_F(GbdtServerTest, HealthAndModelMetadata) {
    auto c = client();
    auto res = c.Get("/healthz");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body)["status"], "ok");
    res = c.Get("/api/v1/model");
    ASSERT_TRUE(res);
    const auto model = json::parse(res->body);
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
    auto res = c.Post("/api/v1/predict", huge, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    res = client().Get("/nowhere");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_EQ(json::parse(res->body)["error"], "no such page: /nowhere");
    // Still serving after every bad request.
    res = client().Get("/healthz");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(GbdtServerTest, FormPageHasOneDropdownPerFeatureWithRealValues) {
    auto res = client().Get("/");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    const std::string& page = res->body;
    for (const auto& field : predictor_->fields())
        EXPECT_NE(page.find("<select id=\"" + field.name + "\""), std::string::npos) << field.name;
    for (const char* value : {"editorial_playlist", "trackdone", "clickrow", "23:00"})
        EXPECT_NE(page.find(value), std::string::npos) << value;
    EXPECT_EQ(page.find("http://"), std::string::npos) << "the page must not load anything from the network";
}

TEST_F(GbdtServerTest, FormPostAnswersTheVerdict) {
    httplib::Params form;
    const json row = seed_row("fwdbtn");
    for (const auto& [key, value] : row.items()) {
        if (value.is_boolean()) form.emplace(key, value.get<bool>() ? "1" : "0");
        else form.emplace(key, value.is_string() ? value.get<std::string>() : value.dump());
    }
    auto res = client().Post("/predict", form);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->body.find("The track will be skipped"), std::string::npos);
    EXPECT_NE(res->body.find("skip probability"), std::string::npos);
    form.erase("premium");
    res = client().Post("/predict", form);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("field &#39;premium&#39;: missing"), std::string::npos) << res->body;
}

TEST_F(GbdtServerTest, PortInUseIsAClearError) {
    tools::ServerOptions options;
    options.port = port_;
    tools::PredictionServer second(predictor_, options);
    EXPECT_THROW(second.bind(), Error);
}

// Both lstm architectures load and answer: rows for seed, sessions for session.
TEST(LstmServerTest, SeedAndSessionModelsAnswer) {
    TempDir dir;
    const std::shared_ptr<const tools::Predictor> seed =
        tools::load_predictor(train_tiny_model(dir, "lstm_seed.bin", "lstm", {"sessions=30"}));
    tools::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    {
        tools::PredictionServer server(seed, options);
        httplib::Client c("127.0.0.1", server.start());
        const auto res = c.Post("/api/v1/predict", json{{"features", seed_row("fwdbtn")}}.dump(), "application/json");
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << res->body;
        const double p = json::parse(res->body)["probability"];
        EXPECT_TRUE(p >= 0.0 && p <= 1.0);
    }
    const std::shared_ptr<const tools::Predictor> session =
        tools::load_predictor(train_tiny_model(dir, "lstm_session.bin", "lstm", {"sessions=30", "task=session"}));
    ASSERT_TRUE(session->takes_sessions());
    tools::PredictionServer server(session, options);
    httplib::Client c("127.0.0.1", server.start());
    json step = json::object();
    for (const auto& field : session->fields()) step[field.name] = field.categorical ? json(0) : json(0.25);
    const json steps = json::array({step, step, step, step, step, step, step, step, step, step});
    auto res = c.Post("/api/v1/predict", json{{"session", steps}}.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const auto answer = json::parse(res->body);
    EXPECT_EQ(answer["history"], 5);
    EXPECT_EQ(answer["probabilities"].size(), 5u);
    res = c.Post("/api/v1/predict", json{{"session", steps}, {"history", 10}}.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(json::parse(res->body)["field"], "history");
    res = c.Post("/api/v1/predict", json{{"features", step}}.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(json::parse(res->body)["field"], "session");
}

}  // namespace
}  // namespace skipper::test
