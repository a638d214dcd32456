// The challenge's test set: skipper gen --test-set writes it, skipper predict
// writes the submission form, and its score against the held labels equals
// skipper eval on the same whole sessions.
#include <gtest/gtest.h>

#include <sstream>

#include "../tools/tools_test_util.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"
#include "trainer/metrics/session_metrics.h"

namespace skipper::data {
namespace {

using test::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// Mean AA and first-prediction accuracy of submission lines against label lines.
metrics::SessionScores score_submission(const std::vector<std::string>& predicted, const std::vector<std::string>& truth) {
    std::vector<int32_t> session, position;
    std::vector<float> labels, scores;
    for (size_t s = 0; s < truth.size(); ++s)
        for (size_t k = 0; k < truth[s].size(); ++k) {
            session.push_back(static_cast<int32_t>(s));
            position.push_back(static_cast<int32_t>(k + 1));
            labels.push_back(truth[s][k] == '1' ? 1.0f : 0.0f);
            scores.push_back(predicted[s][k] == '1' ? 1.0f : 0.0f);
        }
    return metrics::session_scores(session, position, labels, scores);
}

double metric(const std::string& out, const std::string& name) {
    const size_t at = out.find("  " + name + " = ");
    EXPECT_NE(at, std::string::npos) << out;
    return std::stod(out.substr(at + name.size() + 5));
}

void check_learner(const std::string& learner) {
    TempDir dir;
    GeneratorOptions options;
    options.sessions = 500;
    options.seed = 3;
    const GeneratedLayout layout = write_generated_layout(options, dir.file("mssd"), 3, true);
    const std::string model = dir.file(learner + ".bin");
    std::vector<std::string> train = {"train", learner, "task=session", "data=" + dir.file("mssd"), "output_model=" + model};
    if (learner == "gbdt") train.insert(train.end(), {"num_iterations=10", "min_data_in_leaf=5"});
    else train.insert(train.end(), {"hidden_size=8", "epochs=1", "batch_size=64", "device=cpu"});
    auto result = test::run_skipper(train);
    ASSERT_EQ(result.code, 0) << result.err;

    const std::string submission = dir.file("submission.txt");
    result = test::run_skipper({"predict", "model=" + model, "data=" + dir.file("mssd"), "output_result=" + submission});
    ASSERT_EQ(result.code, 0) << result.err;
    const auto predicted = lines_of(test::read_text(submission));
    const auto truth = lines_of(test::read_text(layout.labels_path));
    // The shape: one line per test session, in the input's order, one digit per position to predict.
    ASSERT_EQ(predicted.size(), static_cast<size_t>(layout.test_sessions));
    ASSERT_EQ(predicted.size(), truth.size());
    for (size_t s = 0; s < truth.size(); ++s) {
        ASSERT_EQ(predicted[s].size(), truth[s].size()) << "session " << s;
        EXPECT_EQ(predicted[s].find_first_not_of("01"), std::string::npos) << predicted[s];
    }
    // Its score equals skipper eval's on the same sessions, whole.
    result = test::run_skipper({"eval", "model=" + model, "log=" + layout.full_sessions_path,
                                "tracks=" + dir.file("mssd/track_features/tf_*.csv")});
    ASSERT_EQ(result.code, 0) << result.err;
    const auto scores = score_submission(predicted, truth);
    EXPECT_NEAR(scores.mean_average_accuracy, metric(result.out, "aa"), 1e-4) << result.out;
    EXPECT_NEAR(scores.first_prediction_accuracy, metric(result.out, "first_accuracy"), 1e-4) << result.out;

    result = test::run_skipper({"predict", "model=" + model, "data=" + dir.file("mssd"), "output_result=" + submission,
                                "output_format=probabilities"});
    ASSERT_EQ(result.code, 0) << result.err;
    const auto probabilities = lines_of(test::read_text(submission));
    ASSERT_EQ(probabilities.size(), truth.size());
    for (size_t s = 0; s < truth.size(); ++s) {
        std::istringstream line(probabilities[s]);
        size_t count = 0;
        for (std::string p; std::getline(line, p, ',');) {
            const double value = std::stod(p);
            EXPECT_EQ(value >= 0.5, predicted[s][count] == '1');
            ++count;
        }
        EXPECT_EQ(count, truth[s].size());
    }
}

TEST(TestSet, GbdtSubmissionScoresAsEval) { check_learner("gbdt"); }
TEST(TestSet, LstmSubmissionScoresAsEval) { check_learner("lstm"); }

}  // namespace
}  // namespace skipper::data
