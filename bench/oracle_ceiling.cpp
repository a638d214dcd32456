// The session task's ceilings on generated data: the AA and first-prediction
// accuracy of the full-information oracle (the true logit, mood included)
// and of the history-information oracle (the hidden state at the end of the
// history), on the test split `skipper train ... task=session sessions=N
// sample_seed=S [sample_num_tracks=T]` scores its learners on (split seed 42,
// 20% of sessions), with the repeat-last baseline from the same code.
//
//   oracle_ceiling SESSIONS SEED [TRACKS [SAMPLES]]
// (TRACKS 0: the generator's default catalogue; SAMPLES: the posterior
// oracle's importance samples per session, 2000 by default.)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/experiment.h"
#include "tools/oracle.h"

using namespace skipper;

int main(int argc, char** argv) {
    if (argc < 3 || argc > 5) {
        std::fprintf(stderr, "usage: %s SESSIONS SEED [TRACKS [SAMPLES]]\n", argv[0]);
        return 2;
    }
    data::GeneratorOptions options;
    options.sessions = std::stoll(argv[1]);
    options.seed = std::stoull(argv[2]);
    options.tracks = argc >= 4 ? std::stoll(argv[3]) : 0;
    const int samples = argc == 5 ? std::stoi(argv[4]) : 2000;
    data::HiddenState hidden;
    const data::MssdData mssd = data::generate_mssd(options, &hidden);
    const tools::TaskData task = tools::build_task_data(mssd, {tools::Task::session, false}, false, tools::SplitOptions{},
                                                        [](const std::string&) {});
    auto report = [&](const char* name, const std::vector<double>& probabilities) {
        const std::vector<float> p(probabilities.begin(), probabilities.end());
        const tools::Scores s = tools::score_row_probabilities(task.test_rows, p, true);
        std::printf("%-16s AA %.4f  first %.4f  accuracy %.4f  logloss %.4f\n", name, s.metrics.at("aa"),
                    s.metrics.at("first_accuracy"), s.metrics.at("accuracy"), s.metrics.at("logloss"));
        return s;
    };
    std::printf("%lld sessions, seed %llu, tracks %lld; %lld test rows\n", static_cast<long long>(options.sessions),
                static_cast<unsigned long long>(options.seed), static_cast<long long>(options.tracks),
                static_cast<long long>(task.test_rows.rows()));
    const auto full = report("full oracle", tools::full_oracle_probabilities(task.test_rows, mssd, hidden));
    report("history oracle", tools::history_oracle_probabilities(task.test_rows, mssd, hidden));
    report("posterior oracle", tools::posterior_oracle_probabilities(task.test_rows, mssd, hidden, samples, 1));
    std::printf("%-16s AA %.4f  first %.4f\n", "repeat-last", full.metrics.at("baseline_aa"),
                full.metrics.at("baseline_first_accuracy"));
    return 0;
}
