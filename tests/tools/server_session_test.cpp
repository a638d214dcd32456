// The session API in the data's own terms: sessions of a generated MSSD
// sample, sent as their raw log rows (the CSV's own text) and track ids, are
// answered exactly as `skipper predict` answers them, for the session GBDT and
// the session LSTM; the labels of the positions to predict are never read.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/tools/http_client.h"
#include "tests/tools/tools_test_util.h"
#include "tools/server.h"

namespace skipper::test {
namespace {

using nlohmann::json;

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields;
    std::stringstream in(line);
    for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    return fields;
}

// A CSV file as rows of {column: text}.
std::vector<std::map<std::string, std::string>> read_rows(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    const auto header = split_csv_line(line);
    std::vector<std::map<std::string, std::string>> rows;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto fields = split_csv_line(line);
        std::map<std::string, std::string> row;
        for (size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
        rows.push_back(std::move(row));
    }
    return rows;
}

struct Sample {
    std::string log, tracks;
    // Per session id, its log rows in position order.
    std::map<std::string, std::vector<std::map<std::string, std::string>>> sessions;
    std::map<std::string, std::map<std::string, std::string>> track_rows;
};

Sample generate_sample(const TempDir& dir) {
    const CliResult gen = run_skipper({"gen", "sessions=40", "seed=11", "out=" + dir.file("data")});
    EXPECT_EQ(gen.code, 0) << gen.err;
    Sample sample;
    sample.log = dir.file("data/log_0.csv");
    sample.tracks = dir.file("data/tf_0.csv");
    for (auto& row : read_rows(sample.log)) sample.sessions[row["session_id"]].push_back(row);
    for (auto& [id, rows] : sample.sessions)
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
            return std::stoi(a.at("session_position")) < std::stoi(b.at("session_position"));
        });
    for (auto& row : read_rows(sample.tracks)) sample.track_rows[row["track_id"]] = row;
    return sample;
}

// `skipper predict`'s probabilities, by session id and position.
std::map<std::pair<std::string, int>, double> cli_predictions(const TempDir& dir, const std::string& model,
                                                               const Sample& sample) {
    const std::string out = dir.file(model + ".predictions.csv");
    const CliResult result = run_skipper({"predict", "model=" + dir.file(model), "log=" + sample.log,
                                          "tracks=" + sample.tracks, "output_result=" + out});
    EXPECT_EQ(result.code, 0) << result.err;
    std::map<std::pair<std::string, int>, double> by_position;
    for (const auto& row : read_rows(out))
        by_position[{row.at("session_id"), std::stoi(row.at("session_position"))}] = std::stod(row.at("probability"));
    return by_position;
}

// The request for one session: its first half as raw log rows, the rest as
// track ids (or, for `inline_features`, the tracks' feature rows).
json session_request(const Sample& sample, const std::vector<std::map<std::string, std::string>>& rows,
                     bool inline_features) {
    const size_t history = rows.size() / 2;
    json request = {{"history", json::array()}, {"tracks", json::array()}};
    for (size_t k = 0; k < history; ++k) {
        json row = json::object();
        for (const auto& [column, text] : rows[k]) row[column] = text;
        request["history"].push_back(row);
    }
    for (size_t k = history; k < rows.size(); ++k) {
        const std::string& id = rows[k].at("track_id_clean");
        if (!inline_features) {
            request["tracks"].push_back(id);
            continue;
        }
        json track = json::object();
        for (const auto& [column, text] : sample.track_rows.at(id)) {
            if (column == "track_id" || column == "mode") track[column] = text;
            else track[column] = std::stod(text);
        }
        request["tracks"].push_back(track);
    }
    return request;
}

void expect_server_equals_cli(const std::string& learner, const std::vector<std::string>& params) {
    TempDir dir;
    const Sample sample = generate_sample(dir);
    std::vector<std::string> train = {"data=" + dir.file("data"), "task=session"};
    train.insert(train.end(), params.begin(), params.end());
    train_tiny_model(dir, "model.bin", learner, train);
    const auto expected = cli_predictions(dir, "model.bin", sample);
    ASSERT_FALSE(expected.empty());

    tools::ServerOptions options;
    options.port = 0;
    options.threads = 2;
    const auto sessions = std::make_shared<const tools::SessionInput>(data::read_track_features(sample.tracks));
    tools::PredictionServer server(tools::load_predictor(dir.file("model.bin")), options, sessions);
    HttpClient c(server.start());
    int compared = 0;
    for (const auto& [id, rows] : sample.sessions) {
        for (const bool inline_features : {false, true}) {
            if (inline_features && compared > 40) continue;  // a few sessions suffice for the inline form
            const auto res = c.post("/api/v1/predict", session_request(sample, rows, inline_features).dump());
            ASSERT_TRUE(res.ok);
            ASSERT_EQ(res.status, 200) << res.body;
            const json answer = json::parse(res.body);
            const size_t history = rows.size() / 2;
            ASSERT_EQ(answer["probabilities"].size(), rows.size() - history);
            EXPECT_EQ(answer["history"], history);
            for (size_t k = history; k < rows.size(); ++k) {
                const double want = expected.at({id, static_cast<int>(k + 1)});
                // predict writes 6 decimals; the lstm may round differently in another batch.
                EXPECT_NEAR(answer["probabilities"][k - history].get<double>(), want, learner == "gbdt" ? 6e-7 : 2e-6)
                    << learner << " session " << id << " position " << k + 1;
                ++compared;
            }
        }
    }
    EXPECT_GT(compared, 100);

    // Errors name the field.
    const auto& rows = sample.sessions.begin()->second;
    json request = session_request(sample, rows, false);
    request["history"][1].erase("skip_2");
    auto res = c.post("/api/v1/predict", request.dump());
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(json::parse(res.body)["field"], "history[1].skip_2") << res.body;
    request = session_request(sample, rows, false);
    request["history"][0]["hour_of_day"] = "25";
    res = c.post("/api/v1/predict", request.dump());
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(json::parse(res.body)["field"], "history[0].hour_of_day") << res.body;
    request = session_request(sample, rows, false);
    request["tracks"][0] = "no_such_track";
    res = c.post("/api/v1/predict", request.dump());
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(json::parse(res.body)["field"], "tracks[0].track_id_clean") << res.body;
    request = session_request(sample, rows, false);
    request["tracks"].erase(0);
    request["tracks"].erase(0);
    res = c.post("/api/v1/predict", request.dump());
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(json::parse(res.body)["field"], "tracks") << res.body;
    request = session_request(sample, rows, false);
    request["history"][0]["session_position"] = 7;
    res = c.post("/api/v1/predict", request.dump());
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(json::parse(res.body)["field"], "history[0].session_position") << res.body;
}

TEST(ServerSessionTest, GbdtAnswersEqualSkipperPredict) {
    expect_server_equals_cli("gbdt", {"num_iterations=20", "min_data_in_leaf=5"});
}

TEST(ServerSessionTest, LstmAnswersEqualSkipperPredict) { expect_server_equals_cli("lstm", {}); }

// The positions to predict carry no labels: whatever their log rows said, a
// session built for the server gives the same features.
TEST(ServerSessionTest, LabelsOfThePositionsToPredictAreNeverRead) {
    TempDir dir;
    const Sample sample = generate_sample(dir);
    const tools::SessionInput input(data::read_track_features(sample.tracks));
    const auto& rows = sample.sessions.begin()->second;
    const data::MssdData session = input.session(session_request(sample, rows, false));
    // The server's session equals the sample's own rows for this session, but
    // for the log columns of the positions to predict.
    data::MssdData flipped = input.session(session_request(sample, rows, false));
    const int64_t history = static_cast<int64_t>(rows.size() / 2);
    for (Tensor* column : {&flipped.log.skip_1, &flipped.log.skip_2, &flipped.log.skip_3, &flipped.log.not_skipped})
        for (int64_t i = history; i < flipped.log.rows; ++i) column->data<uint8_t>()[i] ^= 1;
    const auto a = data::build_session_rows(session, &input.standardiser());
    const auto b = data::build_session_rows(flipped, &input.standardiser());
    EXPECT_EQ(a.features.to_vector<float>().size(), b.features.to_vector<float>().size());
    const auto fa = a.features.to_vector<float>(), fb = b.features.to_vector<float>();
    for (size_t i = 0; i < fa.size(); ++i)
        EXPECT_TRUE(fa[i] == fb[i] || (std::isnan(fa[i]) && std::isnan(fb[i]))) << i;
    const auto sa = data::build_session_sequences(session, data::kMaxSessionSteps, &input.standardiser());
    const auto sb = data::build_session_sequences(flipped, data::kMaxSessionSteps, &input.standardiser());
    EXPECT_EQ(sa.inputs.to_vector<float>(), sb.inputs.to_vector<float>());
}

}  // namespace
}  // namespace skipper::test
