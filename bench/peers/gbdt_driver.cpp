// The Skipper side of bench/peers/gbdt_peers.py.
//
//   gbdt_driver export --task seed|seed_noleak|session --sessions N --seed S --out DIR [--mssd MSSD_DIR]
//       generates MSSD tables in memory (trainer/data/generator.h), or with
//       --mssd reads every log of MSSD_DIR/training_set and every track file of
//       MSSD_DIR/track_features (--sessions is then ignored), builds the
//       task's rows, splits them (rows 80/20 for the seed task, sessions 80/20
//       for the session task, seed 42) and writes DIR/{train,test}_{X,y}.npy,
//       DIR/meta.json (feature names, categorical flags) and, for the session
//       task, DIR/test_session.npy, DIR/test_position.npy and the repeat-last
//       baseline's scores DIR/test_baseline.npy.
//   gbdt_driver train --data DIR [--predictions FILE.npy] [--model FILE] key=value...
//       loads the .npy matrices (as the Python peers do), trains, predicts the
//       test rows and prints one JSON line of timings (phase_seconds: per
//       phase of training, from the TrainingLog).
//   gbdt_driver baseline
//       exits at once: its peak RSS is the process's own, before any data.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/error.h"
#include "engine/params.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"
#include "trainer/data/npy.h"
#include "trainer/data/split.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/metrics/session_metrics.h"

namespace {

using namespace skipper;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// --flag value pairs and bare key=value parameters.
struct Args {
    std::map<std::string, std::string> flags;
    std::vector<std::string> params;
};

Args parse_args(int argc, char** argv, int first) {
    Args out;
    for (int i = first; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--", 0) == 0) {
            if (i + 1 >= argc) throw Error("flag " + arg + " needs a value");
            out.flags[arg.substr(2)] = argv[++i];
        } else {
            out.params.push_back(arg);
        }
    }
    return out;
}

std::string flag(const Args& args, const std::string& name, const std::string& fallback = "") {
    const auto it = args.flags.find(name);
    if (it != args.flags.end()) return it->second;
    if (fallback.empty()) throw Error("missing --" + name);
    return fallback;
}

void write_matrix_pair(const std::string& dir, const std::string& part, const data::TabularDataset& d) {
    data::write_npy(dir + "/" + part + "_X.npy", d.features);
    data::write_npy(dir + "/" + part + "_y.npy", d.labels);
}

int export_task(const Args& args) {
    const std::string task = flag(args, "task"), dir = flag(args, "out");
    data::GeneratorOptions options;
    options.sessions = std::stoll(flag(args, "sessions"));
    options.seed = std::stoull(flag(args, "seed", "42"));
    const auto start = Clock::now();
    const std::string mssd_dir = flag(args, "mssd", "-");
    const data::MssdData mssd =
        mssd_dir == "-" ? data::generate_mssd(options)
                        : data::load_mssd_files(data::expand_paths(mssd_dir + "/training_set/log*.csv", "mssd"),
                                                data::find_mssd_layout(mssd_dir).tracks, 1.0, {}, nullptr);
    data::TabularDataset rows;
    data::Split split;
    std::vector<int64_t> train_rows, test_rows;
    if (task == "seed" || task == "seed_noleak") {
        data::SeedFeatureOptions seed_options;
        seed_options.with_leak = task == "seed";
        seed_options.warn = [](const std::string& message) { std::cerr << message << "\n"; };
        rows = data::build_seed_features(mssd, seed_options);
        split = data::random_row_split(rows);
        train_rows = split.train;
        test_rows = split.test;
    } else if (task == "session") {
        rows = data::build_session_rows(mssd);
        split = data::session_split(static_cast<int64_t>(mssd.log.session_ids.size()));
        train_rows = data::rows_of_sessions(rows, split.train);
        test_rows = data::rows_of_sessions(rows, split.test);
    } else {
        throw Error("--task must be seed, seed_noleak or session, got '" + task + "'");
    }
    const data::TabularDataset train = data::take_rows(rows, train_rows), test = data::take_rows(rows, test_rows);
    write_matrix_pair(dir, "train", train);
    write_matrix_pair(dir, "test", test);
    nlohmann::json meta;
    meta["task"] = task;
    meta["sessions"] = static_cast<int64_t>(mssd.log.session_ids.size());
    meta["source"] = mssd_dir == "-" ? "generator" : mssd_dir;
    meta["seed"] = options.seed;
    meta["feature_names"] = train.feature_names;
    meta["categorical"] = std::vector<bool>(train.categorical);
    meta["category_names"] = train.category_names;
    meta["train_rows"] = train.rows();
    meta["test_rows"] = test.rows();
    if (task == "session") {
        data::write_npy(dir + "/test_session.npy",
                        Tensor::from_vector<int32_t>(test.session_index, {static_cast<int64_t>(test.session_index.size())}));
        data::write_npy(dir + "/test_position.npy",
                        Tensor::from_vector<int32_t>(test.position, {static_cast<int64_t>(test.position.size())}));
        const std::vector<float> baseline = metrics::repeat_last_skip_predictions(test);
        data::write_npy(dir + "/test_baseline.npy", Tensor::from_vector<float>(baseline, {static_cast<int64_t>(baseline.size())}));
    }
    std::ofstream(dir + "/meta.json") << meta.dump(2) << "\n";
    std::cout << nlohmann::json{{"train_rows", train.rows()}, {"test_rows", test.rows()},
                                {"features", train.num_features()}, {"seconds", seconds_since(start)}}
                     .dump()
              << "\n";
    return 0;
}

data::TabularDataset load_part(const std::string& dir, const std::string& part, const nlohmann::json& meta) {
    data::TabularDataset d;
    d.feature_names = meta.at("feature_names").get<std::vector<std::string>>();
    const auto flags = meta.at("categorical").get<std::vector<bool>>();
    d.categorical.assign(flags.begin(), flags.end());
    d.category_names = meta.at("category_names").get<std::vector<std::vector<std::string>>>();
    d.features = data::read_npy(dir + "/" + part + "_X.npy");
    d.labels = data::read_npy(dir + "/" + part + "_y.npy");
    return d;
}

int train(const Args& args) {
    const std::string dir = flag(args, "data");
    GbdtParams params;
    set_params(params, gbdt_param_table(), parse_key_values(args.params));
    nlohmann::json meta;
    std::ifstream(dir + "/meta.json") >> meta;

    auto start = Clock::now();
    std::optional<data::TabularDataset> train_set = load_part(dir, "train", meta);
    const double load_seconds = seconds_since(start);
    start = Clock::now();
    TrainingLog log;
    // Binned, then the float matrix let go before training (the peers' script
    // drops its arrays once their libraries hold the binned form).
    const gbdt::BinnedDataset binned = bin_training_set(*train_set, params);
    train_set.reset();
    allocator_for(Device::cpu).release_cached();  // the freed floats go back to the system, not to the cache
    log.phase_seconds["bins"] = seconds_since(start);
    const GbdtModel model = train_gbdt(binned, nullptr, params, &log);
    const double train_seconds = seconds_since(start);

    const data::TabularDataset test_set = load_part(dir, "test", meta);
    start = Clock::now();
    const std::vector<double> probabilities = model.predict_proba(test_set);
    const double predict_seconds = seconds_since(start);
    if (args.flags.count("predictions"))
        data::write_npy(args.flags.at("predictions"),
                        Tensor::from_vector<double>(probabilities, {static_cast<int64_t>(probabilities.size())}));
    if (args.flags.count("model")) model.save(args.flags.at("model"));
    std::cout << nlohmann::json{{"side", "skipper"},
                                {"load_seconds", load_seconds},
                                {"train_seconds", train_seconds},
                                {"predict_seconds", predict_seconds},
                                {"phase_seconds", log.phase_seconds},
                                {"trees", model.num_trees()}}
                     .dump()
              << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        const Args args = parse_args(argc, argv, 2);
        if (mode == "export") return export_task(args);
        if (mode == "train") return train(args);
        if (mode == "baseline") {
            // The process with its libraries loaded and nothing else: the peak
            // RSS that gbdt_peers.py subtracts.
            std::cout << nlohmann::json{{"side", "skipper"}}.dump() << "\n";
            return 0;
        }
        std::cerr << "usage: gbdt_driver export --task seed|seed_noleak|session --sessions N [--seed S] --out DIR [--mssd MSSD_DIR]\n"
                     "       gbdt_driver train --data DIR [--predictions FILE.npy] [--model FILE] key=value...\n"
                     "       gbdt_driver baseline\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "gbdt_driver: " << e.what() << "\n";
        return 1;
    }
}
