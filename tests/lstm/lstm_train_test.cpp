// The LSTM learner end to end: loss falls on learnable toy problems (rows and
// sessions), the same seed gives the same weights, save and reload give the
// same predictions, and bad parameters, data and files get clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "engine/error.h"
#include "engine/ops.h"
#include "tests/test_util.h"
#include "trainer/data/split.h"
#include "trainer/lstm/lstm.h"
#include "trainer/metrics/metrics.h"

namespace skipper {
namespace {

// label = [x0 + 2 x3 - x5 > 0], six features, some of them missing.
data::TabularDataset toy_rows(int64_t rows, uint64_t seed) {
    data::TabularDataset d;
    const int64_t features = 6;
    for (int64_t f = 0; f < features; ++f) {
        d.feature_names.push_back("f" + std::to_string(f));
        d.categorical.push_back(f == 4);
        d.category_names.push_back(f == 4 ? std::vector<std::string>{"a", "b", "c"} : std::vector<std::string>{});
    }
    auto x = test::random_values(static_cast<size_t>(rows * features), seed, -1, 1);
    std::vector<float> xs(x.begin(), x.end()), labels;
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = &xs[static_cast<size_t>(r * features)];
        labels.push_back(row[0] + 2 * row[3] - row[5] > 0 ? 1.0f : 0.0f);
        xs[static_cast<size_t>(r * features + 4)] = static_cast<float>(r % 3);
        if (r % 7 == 0) xs[static_cast<size_t>(r * features + 1)] = NAN;
    }
    d.features = Tensor::from_vector<float>(xs, {rows, features});
    d.labels = Tensor::from_vector<float>(labels, {rows});
    return d;
}

// Sessions of 4..8 steps; the label at step t is whether feature 0 was
// positive at step t-1, so only a model that remembers can predict it. The
// second half of each session is scored.
data::SequenceDataset toy_sessions(int64_t sessions, uint64_t seed) {
    const int64_t steps = 8, features = 2;
    data::SequenceDataset d;
    d.feature_names = {"signal", "noise"};
    const auto u = test::random_values(static_cast<size_t>(sessions * steps * features + sessions), seed, -1, 1);
    std::vector<float> x(static_cast<size_t>(sessions * steps * features), 0.0f);
    std::vector<float> labels(static_cast<size_t>(sessions * steps), 0.0f), step_mask(labels.size(), 0.0f);
    std::vector<float> history(labels.size(), 0.0f), predict(labels.size(), 0.0f);
    for (int64_t s = 0; s < sessions; ++s) {
        const auto length = static_cast<int32_t>(4 + std::floor((u[u.size() - 1 - static_cast<size_t>(s)] + 1) * 2.49));
        d.lengths.push_back(length);
        for (int64_t t = 0; t < length; ++t) {
            const auto i = static_cast<size_t>(s * steps + t);
            for (int64_t f = 0; f < features; ++f) x[i * features + f] = static_cast<float>(u[i * features + f]);
            step_mask[i] = 1.0f;
            labels[i] = t > 0 && x[(i - 1) * features] > 0 ? 1.0f : 0.0f;
            (t < length / 2 ? history : predict)[i] = 1.0f;
        }
    }
    d.inputs = Tensor::from_vector<float>(x, {sessions, steps, features});
    d.labels = Tensor::from_vector<float>(labels, {sessions, steps});
    d.step_mask = Tensor::from_vector<float>(step_mask, {sessions, steps});
    d.history_mask = Tensor::from_vector<float>(history, {sessions, steps});
    d.predict_mask = Tensor::from_vector<float>(predict, {sessions, steps});
    return d;
}

LstmParams small_params(const std::string& arch) {
    LstmParams p;
    p.arch = arch;
    p.hidden_size = 8;
    p.batch_size = 32;
    p.learning_rate = 0.02;
    p.epochs = 12;
    p.num_threads = 2;
    p.device = "cpu";
    p.seed = 3;
    return p;
}

TEST(LstmTrain, SeedArchLossFallsOnLearnableRows) {
    const auto train = toy_rows(1200, 1), valid = toy_rows(200, 2);
    TrainingLog log;
    int64_t calls = 0;
    const LstmModel model = train_lstm(train, &valid, small_params("seed"), &log, [&](const IterationRecord&) { ++calls; });
    ASSERT_EQ(log.records.size(), 12u);
    EXPECT_EQ(calls, 12);
    const auto& first = log.records.front().metrics;
    const auto& last = log.records.back().metrics;
    EXPECT_LT(last.at("train_logloss"), 0.5 * first.at("train_logloss"));
    EXPECT_LT(last.at("valid_logloss"), 0.5 * first.at("valid_logloss"));
    EXPECT_GT(last.at("valid_auc"), 0.95);
    const auto proba = model.predict_proba(valid);
    const std::vector<float> scores(proba.begin(), proba.end());
    // A model that has not learned the rule scores near 0.5.
    EXPECT_GT(metrics::accuracy(valid.labels.to_vector<float>(), scores), 0.9);
    EXPECT_EQ(log.stopped_reason, "completed");
    // The model keeps what a server needs to build its form.
    EXPECT_EQ(model.feature_names(), train.feature_names);
    EXPECT_EQ(model.categorical(), train.categorical);
    EXPECT_EQ(model.category_names(), train.category_names);
}

TEST(LstmTrain, SessionArchLearnsASequentialSignal) {
    const auto train = toy_sessions(400, 5), valid = toy_sessions(100, 6);
    TrainingLog log;
    auto params = small_params("session");
    params.epochs = 15;
    const LstmModel model = train_lstm(train, &valid, params, &log);
    const auto& last = log.records.back().metrics;
    EXPECT_GT(last.at("valid_accuracy"), 0.9);
    EXPECT_GT(last.at("valid_aa"), 0.8);
    EXPECT_GT(last.at("valid_first_accuracy"), 0.85);
    EXPECT_LT(last.at("valid_logloss"), 0.5 * log.records.front().metrics.at("valid_logloss"));
    // One probability per session and step, 0 on padding.
    const auto proba = model.predict_proba(valid);
    ASSERT_EQ(proba.size(), static_cast<size_t>(valid.sessions() * valid.max_steps()));
    const auto mask = valid.step_mask.to_vector<float>();
    for (size_t i = 0; i < proba.size(); ++i) {
        if (mask[i] == 0.0f) EXPECT_EQ(proba[i], 0.0);
        else EXPECT_TRUE(proba[i] > 0.0 && proba[i] < 1.0);
    }
}

TEST(LstmTrain, Seq2SeqArchLearnsTheSignalAcrossTheHandOver) {
    // The first position to predict needs the history's last step: the
    // encoder must hand it over in its state. Outputs come back at each
    // session's own steps (the batches shift sessions so that every history
    // ends at step 3), and a saved model predicts the same.
    const auto train = toy_sessions(400, 5), valid = toy_sessions(100, 6);
    TrainingLog log;
    auto params = small_params("session_seq2seq");
    params.epochs = 15;
    params.early_stopping_round = 0;
    const LstmModel model = train_lstm(train, &valid, params, &log);
    EXPECT_FALSE(model.architecture().bidirectional);
    EXPECT_TRUE(model.architecture().encoder_decoder);
    const auto& last = log.records.back().metrics;
    EXPECT_GT(last.at("valid_accuracy"), 0.9);
    EXPECT_GT(last.at("valid_first_accuracy"), 0.85);
    const auto proba = model.predict_proba(valid);
    ASSERT_EQ(proba.size(), static_cast<size_t>(valid.sessions() * valid.max_steps()));
    const auto mask = valid.step_mask.to_vector<float>();
    const auto predict = valid.predict_mask.to_vector<float>();
    const auto labels = valid.labels.to_vector<float>();
    double right = 0, scored = 0;
    for (size_t i = 0; i < proba.size(); ++i) {
        if (mask[i] == 0.0f) {
            EXPECT_EQ(proba[i], 0.0);
        }
        if (predict[i] == 0.0f) continue;
        right += (proba[i] > 0.5) == (labels[i] > 0.5f);
        ++scored;
    }
    EXPECT_GT(right / scored, 0.9);
    const LstmModel loaded = LstmModel::from_bytes(model.to_bytes(), "memory");
    EXPECT_EQ(loaded.arch(), "session_seq2seq");
    EXPECT_EQ(loaded.predict_proba(valid), proba);

    // The encoder-decoder reads each session's history steps: without the
    // history mask it is a clear error, never a read through a null pointer.
    data::SequenceDataset unmarked = valid;
    unmarked.history_mask = Tensor();
    try {
        (void)model.predict_proba(unmarked);
        ADD_FAILURE() << "a session set without history_mask was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("history_mask"), std::string::npos) << e.what();
    }
}

// Sessions whose label depends on the track alone: of 24 tracks, the even
// ones are skipped; the inputs are noise. Only the track embedding can learn
// it. Track 23 is played only in the first 10 sessions: with a minimum count
// above its plays its row stays exactly 0.
data::SequenceDataset track_sessions(int64_t sessions, uint64_t seed) {
    data::SequenceDataset d = toy_sessions(sessions, seed);
    const int64_t steps = d.max_steps();
    std::vector<int32_t> hash(static_cast<size_t>(sessions * steps), -1);
    std::vector<float> labels = d.labels.to_vector<float>();
    const auto mask = d.step_mask.to_vector<float>();
    for (int64_t s = 0; s < sessions; ++s)
        for (int64_t t = 0; t < steps; ++t) {
            const auto i = static_cast<size_t>(s * steps + t);
            if (mask[i] == 0.0f) continue;
            const int64_t track = s < 10 && t == 0 ? 23 : (s * 7 + t * 3) % 23;
            hash[i] = ops::key_hash("track_" + std::to_string(track));
            labels[i] = track % 2 == 0 ? 1.0f : 0.0f;
        }
    d.labels = Tensor::from_vector<float>(labels, {sessions, steps});
    d.track_hash = Tensor::from_vector<int32_t>(hash, {sessions, steps});
    return d;
}

TEST(LstmTrain, TrackEmbeddingLearnsWhatOnlyTheTrackTells) {
    const auto train = track_sessions(400, 5), valid = track_sessions(100, 6);
    auto params = small_params("session_seq2seq");
    params.epochs = 10;
    params.early_stopping_round = 0;
    TrainingLog without_log, with_log;
    (void)train_lstm(train, &valid, params, &without_log);
    params.track_embedding_dim = 2;
    params.track_embedding_buckets = 1 << 12;
    params.track_embedding_min_count = 20;  // track 23: 10 plays in the training sessions
    const LstmModel model = train_lstm(train, &valid, params, &with_log);
    EXPECT_LT(without_log.records.back().metrics.at("valid_accuracy"), 0.7);
    EXPECT_GT(with_log.records.back().metrics.at("valid_accuracy"), 0.95);
    // The rare track's row never learned; the others did.
    const auto table = model.weights().at("embedding.weight").to_vector<float>();
    const auto row_of = [&](int track) {
        return ops::hash_bucket(ops::key_hash("track_" + std::to_string(track)), params.track_embedding_buckets);
    };
    EXPECT_EQ(table[static_cast<size_t>(row_of(23) * 2)], 0.0f);
    EXPECT_EQ(table[static_cast<size_t>(row_of(23) * 2 + 1)], 0.0f);
    EXPECT_NE(table[static_cast<size_t>(row_of(4) * 2)], 0.0f);
    // The model file carries the table and the settings.
    const LstmModel loaded = LstmModel::from_bytes(model.to_bytes(), "memory");
    EXPECT_EQ(loaded.architecture().embedding_dim, 2);
    EXPECT_EQ(loaded.predict_proba(valid), model.predict_proba(valid));
    // Sessions without track ids are a clear error for such a model.
    data::SequenceDataset anonymous = valid;
    anonymous.track_hash = Tensor();
    try {
        (void)model.predict_proba(anonymous);
        ADD_FAILURE() << "sessions without track_hash were accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("track_hash"), std::string::npos) << e.what();
    }
    params.arch = "seed";
    EXPECT_THROW((void)train_lstm(toy_rows(50, 1), nullptr, params), ParamError);
}

TEST(LstmTrain, SameSeedGivesTheSameWeights) {
    const auto train = toy_rows(200, 1);
    auto params = small_params("seed");
    params.epochs = 2;
    const LstmModel a = train_lstm(train, nullptr, params);
    const LstmModel b = train_lstm(train, nullptr, params);
    ASSERT_EQ(a.weights().size(), b.weights().size());
    for (const auto& [name, value] : a.weights())
        EXPECT_EQ(value.to_vector<float>(), b.weights().at(name).to_vector<float>()) << name;
    params.seed = 4;
    const LstmModel c = train_lstm(train, nullptr, params);
    EXPECT_NE(a.weights().at("weight_hh_l0").to_vector<float>(), c.weights().at("weight_hh_l0").to_vector<float>());
}

TEST(LstmTrain, SameWeightsWithOneThreadOrTwo) {
    // Two threads run the two directions concurrently, one runs them in turn.
    const auto train = toy_sessions(100, 5);
    auto params = small_params("session");
    params.epochs = 2;
    params.num_threads = 1;
    const LstmModel one = train_lstm(train, nullptr, params);
    params.num_threads = 2;
    const LstmModel two = train_lstm(train, nullptr, params);
    for (const auto& [name, value] : one.weights())
        EXPECT_EQ(value.to_vector<float>(), two.weights().at(name).to_vector<float>()) << name;
}

TEST(LstmTrain, SaveAndReloadGiveIdenticalPredictions) {
    const auto train = toy_sessions(100, 5);
    auto params = small_params("session");
    params.epochs = 2;
    const LstmModel model = train_lstm(train, nullptr, params);
    const std::string path = test::scratch_path("lstm.skm");
    model.save(path);
    const LstmModel loaded = LstmModel::load(path);
    EXPECT_EQ(loaded.predict_proba(train), model.predict_proba(train));
    EXPECT_EQ(loaded.arch(), "session");
    EXPECT_EQ(loaded.feature_names(), train.feature_names);
    EXPECT_EQ(loaded.params().hidden_size, 8);
    EXPECT_EQ(loaded.to_bytes(), model.to_bytes());

    // A flipped byte is refused by the checksum.
    auto bytes = model.to_bytes();
    bytes[bytes.size() / 2] ^= 0x40;
    EXPECT_THROW(LstmModel::from_bytes(bytes, "flipped"), FormatError);
    std::remove(path.c_str());
}

TEST(LstmTrain, SeedModelRoundTripsThroughBytes) {
    const auto train = toy_rows(100, 1);
    auto params = small_params("seed");
    params.epochs = 1;
    const LstmModel model = train_lstm(train, nullptr, params);
    const LstmModel loaded = LstmModel::from_bytes(model.to_bytes(), "memory");
    EXPECT_EQ(loaded.predict_proba(train), model.predict_proba(train));
    EXPECT_EQ(loaded.categorical(), train.categorical);
    EXPECT_EQ(loaded.category_names(), train.category_names);
}

TEST(LstmTrain, EarlyStoppingKeepsTheBestEpoch) {
    // Labels that are pure noise: the validation loss stops improving quickly.
    auto train = toy_rows(200, 1), valid = toy_rows(100, 2);
    const auto noise = test::random_values(300, 9, 0, 1);
    std::vector<float> a, b;
    for (size_t i = 0; i < 200; ++i) a.push_back(noise[i] < 0.5 ? 1.0f : 0.0f);
    for (size_t i = 200; i < 300; ++i) b.push_back(noise[i] < 0.5 ? 1.0f : 0.0f);
    train.labels = Tensor::from_vector<float>(a, {200});
    valid.labels = Tensor::from_vector<float>(b, {100});
    auto params = small_params("seed");
    params.epochs = 60;
    params.learning_rate = 0.05;
    params.early_stopping_round = 3;
    TrainingLog log;
    const LstmModel model = train_lstm(train, &valid, params, &log);
    ASSERT_LT(log.records.size(), 60u);
    EXPECT_EQ(log.stopped_reason.rfind("early stopping", 0), 0u) << log.stopped_reason;
    EXPECT_EQ(static_cast<int64_t>(log.records.size()), log.best_iteration + 3);
    // The kept weights are the best epoch's: the model scores its logloss.
    const auto proba = model.predict_proba(valid);
    const std::vector<float> scores(proba.begin(), proba.end());
    const double best = log.records[static_cast<size_t>(log.best_iteration - 1)].metrics.at("valid_logloss");
    EXPECT_NEAR(metrics::log_loss(valid.labels.to_vector<float>(), scores), best, 1e-5);
}

TEST(LstmTrain, EarlyStoppingHoldsOutPartOfTheTrainingSessions) {
    // No validation set given: validation_fraction of the training sessions is
    // held out, scored each epoch, and the best epoch's weights are kept.
    const auto train = toy_sessions(300, 4);
    auto params = small_params("session");
    params.epochs = 40;
    params.learning_rate = 0.05;
    params.validation_fraction = 0.2;
    params.early_stopping_round = 2;
    params.bidirectional = false;  // one direction: a few times faster on a busy CI machine
    TrainingLog log;
    const LstmModel model = train_lstm(train, nullptr, params, &log);
    ASSERT_FALSE(log.records.empty());
    for (const auto& record : log.records) {
        EXPECT_EQ(record.metrics.count("valid_aa"), 1u);
        EXPECT_EQ(record.metrics.count("valid_logloss"), 1u);
    }
    ASSERT_GE(log.best_iteration, 1);
    ASSERT_LE(log.best_iteration, static_cast<int64_t>(log.records.size()));
    const double best = log.records[static_cast<size_t>(log.best_iteration - 1)].metrics.at("valid_logloss");
    for (const auto& record : log.records) EXPECT_GE(record.metrics.at("valid_logloss"), best);
    if (log.records.size() < 40u) {
        EXPECT_EQ(log.stopped_reason.rfind("early stopping", 0), 0u) << log.stopped_reason;
        EXPECT_EQ(static_cast<int64_t>(log.records.size()), log.best_iteration + 2);
    }
    // The held-out sessions are the ones random_split(300, 0.2, seed) puts in
    // its test part: the model's valid_logloss at the best epoch is its
    // logloss on those sessions' positions to predict.
    const auto held = data::random_split(300, 0.2, static_cast<uint64_t>(params.seed)).test;
    const auto valid = data::take_sessions(train, held);
    const auto proba = model.predict_proba(valid);
    const auto labels = valid.labels.to_vector<float>();
    const auto predict = valid.predict_mask.to_vector<float>();
    std::vector<float> y, p;
    for (size_t i = 0; i < predict.size(); ++i)
        if (predict[i] != 0.0f) {
            y.push_back(labels[i]);
            p.push_back(static_cast<float>(proba[i]));
        }
    EXPECT_NEAR(metrics::log_loss(y, p), best, 1e-5);
}

TEST(LstmTrain, ScheduleClippingAndDropoutStillLearn) {
    // The cosine schedule reaches min_lr_ratio * learning_rate at the last
    // step; a tight clip and dropout still leave a learnable signal learnt.
    const auto train = toy_sessions(400, 5), valid = toy_sessions(100, 6);
    auto params = small_params("session");
    params.epochs = 15;
    params.early_stopping_round = 0;
    params.lr_schedule = "cosine";
    params.min_lr_ratio = 0.1;
    params.max_grad_norm = 0.5;
    params.dropout = 0.2;
    params.num_layers = 2;
    params.bidirectional = false;
    TrainingLog log;
    train_lstm(train, &valid, params, &log);
    ASSERT_EQ(log.records.size(), 15u);
    EXPECT_NEAR(log.records.back().metrics.at("learning_rate"), 0.1 * params.learning_rate, 1e-12);
    EXPECT_GT(log.records.front().metrics.at("learning_rate"), 0.9 * params.learning_rate);
    EXPECT_LT(log.records.back().metrics.at("valid_logloss"), 0.5);
    EXPECT_GT(log.records.back().metrics.at("valid_accuracy"), 0.8);
}

TEST(LstmTrain, ClearErrorsForBadParametersAndData) {
    const auto rows = toy_rows(50, 1);
    const auto sessions = toy_sessions(20, 1);
    EXPECT_THROW(train_lstm(rows, nullptr, small_params("session")), ParamError);
    EXPECT_THROW(train_lstm(sessions, nullptr, small_params("seed")), ParamError);
    auto params = small_params("seed");
    params.early_stopping_round = 2;
    params.validation_fraction = 0.0;  // and no validation set given
    EXPECT_THROW(train_lstm(rows, nullptr, params), ParamError);
    EXPECT_THROW(lstm_params_from({{"hidden_sise", "4"}}), ParamError);
    EXPECT_THROW(lstm_params_from({{"arch", "gru"}}), ParamError);
    EXPECT_THROW(lstm_params_from({{"learning_rate", "-1"}}), ParamError);
    EXPECT_EQ(lstm_params_from({{"lr", "0.5"}, {"units", "7"}}).hidden_size, 7);

    params = small_params("seed");
    params.epochs = 1;
    const LstmModel model = train_lstm(rows, nullptr, params);
    auto renamed = rows;
    renamed.feature_names[2] = "other";
    try {
        model.predict_proba(renamed);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'f2'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(model.predict_proba(sessions), Error);
}

TEST(LstmTrain, RefusesForeignAndTruncatedFiles) {
    const std::string path = test::scratch_path("not_a_model.skm");
    {
        std::ofstream out(path, std::ios::binary);
        out << "learner=lstm\nthis is not a model file";
    }
    EXPECT_THROW(LstmModel::load(path), FormatError);
    const auto train = toy_rows(50, 1);
    auto params = small_params("seed");
    params.epochs = 1;
    auto bytes = train_lstm(train, nullptr, params).to_bytes();
    bytes.resize(bytes.size() / 2);
    EXPECT_THROW(LstmModel::from_bytes(bytes, "truncated"), FormatError);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace skipper
