#include "tools/cli.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/allocator.h"
#include "engine/collective.h"
#include "engine/context.h"
#include "engine/params.h"
#include "engine/serialize.h"
#include "kernels/cpu/matmul.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd_files.h"
#include "trainer/data/sequence_cache.h"
#include "trainer/data/split.h"
#include "trainer/data/test_set.h"
#include "trainer/data_parallel.h"
#include "tools/bench.h"
#include "tools/data_source.h"
#include "tools/experiment.h"
#include "tools/progress.h"
#include "tools/report.h"
#include "tools/server.h"

namespace skipper::tools {

namespace {

using nlohmann::json;

// Every option any subcommand takes. Each subcommand's table below lists the
// ones it accepts, so --help, parsing and validation come from one place.
struct CliOptions {
    std::string learner = "gbdt";
    std::string task = "seed";
    bool leak = true;
    std::string device = "auto";
    int64_t num_threads = 0;

    std::string data;
    std::string log;
    std::string tracks;
    int64_t num_tracks = 0;  // gen: catalogue size (0: the generator's default)
    int64_t sessions = 2000;
    int64_t sample_seed = 42;
    std::string on_bad_row = "error";
    std::string files;
    double sample_sessions = 1.0;
    std::string dataset;       // a cache written by skipper prepare
    std::string output_format = "submission";  // predict on a test set: 0/1 digits or probabilities
    std::string cache_out;     // prepare's output
    double test_fraction = 0.2;
    int64_t split_seed = 42;

    std::string output_model = "skipper_model.bin";
    std::string input_model;
    std::string metrics_out;
    std::string output_result = "skipper_predictions.csv";
    std::string out_dir = "mssd_sample";
    int64_t gen_files = 0;
    bool test_set = false;
    std::string report = "skipper_report.html";
    int64_t seed = 42;

    std::string host = "127.0.0.1";
    int64_t port = 8080;
    int64_t threads = 0;
    int64_t max_body_bytes = 1 << 20;
    int64_t max_connections = 20000;
    double idle_timeout = 60.0;
    double header_timeout = 10.0;
    double body_timeout = 30.0;
    std::string access_log = "off";

    int64_t gbdt_iterations = 100;
    int64_t seed_epochs = 2;
    int64_t session_epochs = 10;  // at most: early stopping keeps the best epoch
    // Smaller than the original 1000 so that a short run still takes enough
    // optimizer steps to learn (an epoch of the default sample is ~27 batches of 1000).
    int64_t seed_batch_size = 256;
    int64_t session_batch_size = 128;

    // skipper bench
    std::string bench_learner = "all";
    std::string bench_device = "all";
    bool bench_peers = false;
    int64_t bench_sessions = 4000;
};

using Spec = ParamSpec<CliOptions>;
constexpr double kMaxInt = 9.0e15;

Spec spec_learner() {
    return {"learner", &CliOptions::learner, 0, 0, {"gbdt", "lstm"}, "the learner (also the first bare word: train lstm)"};
}
Spec spec_task() {
    return {"task", &CliOptions::task, 0, 0, {"seed", "session"},
            "seed: is_skipped per row (13 features); session: skip_2 of each session's second half"};
}
Spec spec_leak() {
    return {"with_leak", &CliOptions::leak, 0, 0, {}, "seed task: keep hist_user_behavior_reason_end, which leaks the label",
            {"leak"}};
}
Spec spec_device() {
    return {"device", &CliOptions::device, 0, 0, {"auto", "cpu", "cuda"}, "where the lstm trains (gbdt: cpu)"};
}
Spec spec_num_threads() { return {"num_threads", &CliOptions::num_threads, 0, 1024, {}, "CPU threads; 0 = every core"}; }
Spec spec_data() {
    return {"data", &CliOptions::data, 0, 0, {},
            "MSSD folder, searched recursively: the real layout, log_mini/tf_mini or skipper gen's (default: a "
            "generated sample)"};
}
Spec spec_log() {
    return {"log", &CliOptions::log, 0, 0, {}, "session-log csv(.gz) files, comma list or glob (with tracks=, instead of data=)"};
}
Spec spec_tracks() { return {"tracks", &CliOptions::tracks, 0, 0, {}, "track-features csv(.gz) files, comma list or glob (with log=)"}; }
Spec spec_files() {
    return {"files", &CliOptions::files, 0, 0, {}, "a subset of the sorted log files: indices, ranges a-b, or shard k/n"};
}
Spec spec_sample_sessions() {
    return {"sample_sessions", &CliOptions::sample_sessions, 1e-9, 1, {}, "share of sessions kept, chosen by a hash of the session id"};
}
Spec spec_sessions() {
    return {"sessions", &CliOptions::sessions, 20, 50000000, {}, "sessions in the generated sample (no data=)"};
}
Spec spec_sample_seed() { return {"sample_seed", &CliOptions::sample_seed, 0, kMaxInt, {}, "generated sample's seed"}; }
Spec spec_sample_num_tracks() {
    return {"sample_num_tracks", &CliOptions::num_tracks, 0, 1e9, {},
            "generated sample's track catalogue (0: about 5 per session, at least 1000)"};
}
Spec spec_on_bad_row() {
    return {"on_bad_row", &CliOptions::on_bad_row, 0, 0, {"error", "skip"}, "malformed rows: stop, or skip and count"};
}
Spec spec_test_fraction() {
    return {"test_fraction", &CliOptions::test_fraction, 0.01, 0.9, {}, "held-out share (rows or sessions)"};
}
Spec spec_split_seed() { return {"split_seed", &CliOptions::split_seed, 0, kMaxInt, {}, "seed of the train/test split"}; }
Spec spec_dataset() {
    return {"dataset", &CliOptions::dataset, 0, 0, {}, "a dataset cache written by skipper prepare (session-task gbdt)"};
}
Spec spec_output_model() {
    return {"output_model", &CliOptions::output_model, 0, 0, {}, "where the model is saved", {"model_out", "out"}};
}
Spec spec_input_model() {
    return {"model", &CliOptions::input_model, 0, 0, {}, "a model file saved by skipper train", {"input_model"}};
}
Spec spec_metrics_out() {
    return {"metrics_out", &CliOptions::metrics_out, 0, 0, {}, "also write the metrics as JSON to this file"};
}
Spec spec_output_result() {
    return {"output_result", &CliOptions::output_result, 0, 0, {}, "predictions csv", {"out"}};
}

const std::vector<Spec>& data_specs() {
    static const std::vector<Spec> specs = {spec_data(),    spec_log(),         spec_tracks(),     spec_files(),
                                            spec_sample_sessions(), spec_sessions(), spec_sample_seed(), spec_on_bad_row(),
                                            spec_sample_num_tracks()};
    return specs;
}

std::vector<Spec> with_data(std::vector<Spec> specs) {
    specs.insert(specs.end(), data_specs().begin(), data_specs().end());
    return specs;
}

struct Invocation {
    CliOptions options;
    KeyValues learner_params;
    std::ostream& out;
    std::ostream& err;
};

struct Command {
    const char* name;
    const char* summary;
    const char* usage;
    std::vector<Spec> options;
    bool takes_learner_params;
    std::function<int(Invocation&)> run;
};

const std::vector<Command>& commands();

// ---------------------------------------------------------------- helpers

DataSource data_source_of(const CliOptions& o) {
    return {o.data, o.log, o.tracks, o.sessions, o.sample_seed, o.on_bad_row, o.files, o.sample_sessions, o.num_tracks};
}

std::string fixed(double value, int digits = 4) {
    if (std::isnan(value)) return "n/a";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    return buffer;
}

json metrics_json(const std::map<std::string, double>& metrics) {
    json out = json::object();
    for (const auto& [name, value] : metrics) out[name] = std::isfinite(value) ? json(value) : json(nullptr);
    return out;
}

json run_json(const TrainedRun& run) {
    json records = json::array();
    for (const auto& record : run.log.records) {
        json entry = metrics_json(record.metrics);
        entry["iteration"] = record.iteration;
        entry["seconds"] = record.seconds;
        records.push_back(std::move(entry));
    }
    const auto& c = run.test.confusion;
    return {{"learner", run.learner},
            {"task", task_name(run.choice.task)},
            {"with_leak", run.choice.with_leak},
            {"test", metrics_json(run.test.metrics)},
            {"confusion_matrix",
             {{"true_negative", c.true_negative},
              {"false_positive", c.false_positive},
              {"false_negative", c.false_negative},
              {"true_positive", c.true_positive}}},
            {"training",
             {{"seconds", run.seconds},
              {"best_iteration", run.log.best_iteration},
              {"stopped_reason", run.log.stopped_reason},
              {"records", std::move(records)}}}};
}

void write_metrics(const std::string& path, const json& document, std::ostream& err) {
    // Files are written by rank 0 alone: in a data-parallel job every rank holds the same results.
    if (path.empty() || !collective::is_root()) return;
    write_file_atomically(path, document.dump(2) + "\n");
    err << "metrics written to " << path << '\n';
}

std::function<void(const std::string&)> warning_printer(std::ostream& err, std::vector<std::string>* keep = nullptr) {
    return [&err, keep](const std::string& message) {
        err << (message.rfind("warning", 0) == 0 ? "" : "warning: ") << message << '\n';
        if (keep != nullptr) keep->push_back(message);
    };
}

KeyValues learner_params_with_device(const Invocation& inv, const std::string& learner) {
    KeyValues pairs = inv.learner_params;
    if (learner == "lstm") pairs.insert(pairs.begin(), {"device", inv.options.device});
    if (learner == "gbdt" && inv.options.device == "cuda")
        throw ParamError("device", "the gbdt learner trains on the CPU; use device=cpu or device=auto");
    if (inv.options.num_threads > 0) pairs.insert(pairs.begin(), {"num_threads", std::to_string(inv.options.num_threads)});
    return pairs;
}

TrainedRun train_with_progress(const std::string& learner, const TaskData& data, const KeyValues& params,
                               std::ostream& err) {
    const bool is_gbdt = learner == "gbdt";
    ProgressPrinter progress(err, writes_to_terminal(err), learner + " " + task_name(data.choice.task),
                             is_gbdt ? "iter" : "epoch");
    TrainedRun run = train_and_score(learner, data, params, progress.callback());
    progress.finish();
    return run;
}

void print_scores(std::ostream& out, const std::string& heading, const Scores& scores) {
    out << heading << '\n';
    for (const auto& [name, value] : scores.metrics) out << "  " << name << " = " << fixed(value) << '\n';
    const auto& c = scores.confusion;
    out << "  confusion matrix (rows: label 0/1, columns: predicted 0/1): [[" << c.true_negative << ", "
        << c.false_positive << "], [" << c.false_negative << ", " << c.true_positive << "]]\n";
}

std::vector<double> gain_importance(const AnyModel& model) {
    if (const auto* gbdt = std::get_if<GbdtModel>(&model)) return gbdt->feature_importance(ImportanceType::gain);
    return {};
}

// A data-parallel job's collective traffic, on rank 0, into its metrics.
void add_traffic(json& document, std::ostream& err) {
    if (collective::size() == 1) return;
    const collective::Traffic traffic = collective::traffic();
    err << "data-parallel: " << collective::size() << " ranks; rank 0 made " << traffic.calls
        << " collective calls over " << traffic.bytes << " bytes\n";
    document["collective"] = {{"ranks", collective::size()}, {"calls", traffic.calls}, {"bytes", traffic.bytes}};
}

// What every train command ends with: where the model went, and the metrics
// document (with the collectives' traffic in a data-parallel job).
int finish_train(Invocation& inv, const TrainedRun& run, const std::string& data) {
    const CliOptions& o = inv.options;
    inv.out << "model saved to " << o.output_model << '\n';
    json document = run_json(run);
    document["command"] = "train";
    document["data"] = data;
    document["model"] = o.output_model;
    add_traffic(document, inv.err);
    write_metrics(o.metrics_out, document, inv.err);
    return kExitSuccess;
}

// ------------------------------------------------- streamed session-task gbdt

// One line per file (or one line redrawn on a terminal): the ingest's rate and what is left.
data::IngestProgressCallback ingest_printer(std::ostream& err) {
    const bool terminal = writes_to_terminal(err);
    return [&err, terminal](const data::IngestProgress& p) {
        const double mb_per_s = p.seconds > 0 ? static_cast<double>(p.bytes_done) / 1e6 / p.seconds : 0.0;
        const double rows_per_s = p.seconds > 0 ? static_cast<double>(p.rows_done) / p.seconds : 0.0;
        const double eta = p.bytes_done > 0 ? p.seconds * static_cast<double>(p.bytes_total - p.bytes_done) /
                                                  static_cast<double>(p.bytes_done)
                                            : 0.0;
        char line[200];
        std::snprintf(line, sizeof line, "ingest [%s] file %lld/%lld  %.1f MB/s  %.0f rows/s  ETA %.0fs", p.phase,
                      static_cast<long long>(p.files_done), static_cast<long long>(p.files_total), mb_per_s, rows_per_s, eta);
        err << (terminal ? "\r" : "") << line << (terminal && p.files_done < p.files_total ? "" : "\n") << std::flush;
    };
}

data::IngestOptions ingest_options(const CliOptions& o, const GbdtParams& params, std::ostream& err) {
    data::IngestOptions options;
    options.read.on_bad_row = data::parse_on_bad_row(o.on_bad_row);
    options.read.num_threads = static_cast<int>(o.num_threads);
    options.sample_sessions = o.sample_sessions;
    options.test_fraction = o.test_fraction;
    options.split_seed = static_cast<uint64_t>(o.split_seed);
    options.max_bin = params.max_bin;
    options.bin_construct_sample_cnt = params.bin_construct_sample_cnt;
    options.progress = ingest_printer(err);
    return options;
}

// The session rows of the named files, streamed, or of a prepared cache.
// With `sequences`, the files' LSTM sequences go to it as they stream.
data::DatasetCache session_rows_of(const CliOptions& o, const GbdtParams& params, std::ostream& err, std::string& description,
                                   data::SequenceCacheWriter* sequences = nullptr) {
    if (!o.dataset.empty()) {
        if (!o.data.empty() || !o.log.empty() || !o.tracks.empty())
            throw ParamError("dataset", "give either dataset=FILE or the data files, not both");
        data::DatasetCache cache = data::load_dataset_cache(o.dataset);
        if (collective::size() > 1) {
            // Every rank maps the whole cache and trains on its share of the sessions.
            for (auto* part : {&cache.data.train, &cache.data.test})
                *part = take_rank_rows(*part, rank_share_of_runs(part->session_index, part->rows()));
        }
        description = o.dataset + ": " + std::to_string(cache.data.train.rows()) + " training rows, " +
                      std::to_string(cache.data.test.rows()) + " held-out rows (test_fraction " +
                      fixed(cache.test_fraction, 2) + " fixed when prepared)";
        return cache;
    }
    const data::MssdFiles files = resolve_files(data_source_of(o));
    if (files.logs.empty()) throw ParamError("data", "the streamed session task needs log files (data=DIR or log=FILES)");
    // Data-parallel: this rank reads its share of the files or of the sessions.
    const InputShare share = input_share(files.logs);
    data::IngestOptions options = ingest_options(o, params, err);
    options.session_shard = share.session_shard;
    options.session_shards = share.session_shards;
    data::DatasetCache cache;
    if (sequences != nullptr) {
        options.on_window = [sequences](const data::MssdData& d, const data::TrackStandardiser& z,
                                        const std::vector<uint64_t>& hashes, const std::vector<uint8_t>& held_out) {
            sequences->add_window(d, z, hashes, held_out);
        };
    }
    cache.data = data::ingest_session_rows(share.logs, files.tracks, options);
    cache.test_fraction = o.test_fraction;
    cache.split_seed = static_cast<uint64_t>(o.split_seed);
    cache.sample_sessions = o.sample_sessions;
    const auto& d = cache.data;
    std::array<int64_t, 3> totals = {d.log_rows, d.sessions, d.disk_bytes};
    sum_counts(totals);
    description = std::to_string(files.logs.size()) + " log files: " + std::to_string(totals[0]) + " rows, " +
                  std::to_string(totals[1]) + " sessions, " + fixed(static_cast<double>(totals[2]) / 1e6, 1) +
                  " MB of log files on disk in " + fixed(d.seconds, 1) + "s end to end (" +
                  fixed(static_cast<double>(d.disk_bytes) / 1e6 / d.seconds, 1) + " MB/s" +
                  (collective::size() == 1 ? std::string()
                                           : " on rank 0; " + std::to_string(collective::size()) + " ranks, each " +
                                                 (share.session_shards > 1
                                                      ? std::string("a share of the sessions of every file")
                                                      : "its share of the files; sessions checked whole within one file "
                                                        "across ranks in " + fixed(d.spanning_seconds, 2) + "s")) +
                  "; session-id scan " + fixed(d.scan_seconds, 1) + "s, track table " + fixed(d.track_seconds, 1) +
                  "s, bin sample " + fixed(d.sample_seconds, 1) + "s, rows and bins " +
                  fixed(d.seconds - d.scan_seconds - d.track_seconds - d.sample_seconds, 1) + "s)";
    return cache;
}

// A binned part as a row dataset the model and the session metrics read.
data::TabularDataset rows_for_scoring(const gbdt::BinnedDataset& part) {
    data::TabularDataset rows;
    rows.feature_names = part.feature_names;
    rows.categorical = part.categorical;
    rows.category_names = part.category_names;
    rows.features = data::representative_rows(part, 0, part.rows());
    rows.labels = part.labels;
    rows.session_index = part.session_index;
    rows.position = part.position;
    return rows;
}

bool streams_session_rows(const CliOptions& o) {
    if (!o.dataset.empty()) return true;
    return o.learner == "gbdt" && o.task == "session" && (!o.data.empty() || !o.log.empty());
}

// The LSTM sequences of a prepared cache, mapped.
data::SequenceCache sequences_of(const CliOptions& o, std::string& description) {
    if (!o.data.empty() || !o.log.empty() || !o.tracks.empty())
        throw ParamError("dataset", "give either dataset=FILE or the data files, not both");
    data::SequenceCache sequences = data::load_sequence_cache(data::load_dataset_cache(o.dataset), o.dataset);
    description = o.dataset + ": " + std::to_string(sequences.train.sessions()) + " training sessions, " +
                  std::to_string(sequences.test.sessions()) + " held-out sessions (streamed from the mapped cache" +
                  (collective::size() == 1 ? std::string(")")
                                           : "; " + std::to_string(collective::size()) +
                                                 " ranks, each its range of the sessions)");
    return sequences;
}

// train lstm task=session dataset=FILE: mini-batches streamed from the
// mapped cache (trainer/lstm/batch_stream.h), memory bounded whatever its size.
int train_lstm_from_cache(Invocation& inv, const KeyValues& params) {
    const CliOptions& o = inv.options;
    const TaskChoice choice{Task::session, false};
    const LstmParams lstm_params = lstm_params_for(choice, params);
    std::string description;
    const data::SequenceCache sequences = sequences_of(o, description);
    inv.err << "data: " << description << '\n';
    TrainedRun run;
    run.learner = "lstm";
    run.choice = choice;
    {
        ProgressPrinter progress(inv.err, writes_to_terminal(inv.err), "lstm session", "epoch");
        const auto start = std::chrono::steady_clock::now();
        if (collective::size() == 1) {
            run.model = train_lstm(sequences.train, sequences.standardiser, nullptr, lstm_params, &run.log,
                                   progress.callback());
        } else {
            // Data-parallel: each rank reads only its range of the mapped sessions (the pages it touches).
            const RankShare share = rank_share(sequences.train.sessions());
            ItemPlaces places;
            places.total = sequences.train.sessions();
            for (int64_t s = share.begin; s < share.end; ++s) places.place.push_back(s);
            places.hashes = sequences.train.session_hash;
            run.model = train_lstm(data::slice_sessions(sequences.train, share.begin, share.end), places, lstm_params,
                                   &run.log, progress.callback(), &sequences.standardiser);
        }
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        progress.finish();
    }
    TaskData scoring;
    scoring.choice = choice;
    scoring.test_sequences = sequences.test;
    scoring.has_sequences = true;
    if (sequences.test.sessions() > 0) run.test = score_model(run.model, scoring);
    save_model(run.model, o.output_model);
    print_scores(inv.out, "lstm on the " + choice.label() + ": held-out scores (" + fixed(run.seconds, 1) + "s of training)",
                 run.test);
    return finish_train(inv, run, description);
}

int train_streamed(Invocation& inv, const KeyValues& params) {
    const CliOptions& o = inv.options;
    if (o.learner == "lstm" && o.task == "session" && !o.dataset.empty()) return train_lstm_from_cache(inv, params);
    if (o.learner != "gbdt" || o.task != "session")
        throw ParamError("dataset", "the dataset cache holds the session task: use train gbdt|lstm task=session");
    GbdtParams gbdt_params;
    set_params(gbdt_params, gbdt_param_table(), params);
    validate_gbdt_params(gbdt_params);
    std::string description;
    const auto start = std::chrono::steady_clock::now();
    const data::DatasetCache cache = session_rows_of(o, gbdt_params, inv.err, description);
    inv.err << "data: " << description << '\n';
    TrainedRun run;
    run.learner = "gbdt";
    run.choice = {Task::session, false};
    {
        ProgressPrinter progress(inv.err, writes_to_terminal(inv.err), "gbdt session", "iter");
        const auto train_start = std::chrono::steady_clock::now();
        run.model = train_gbdt(cache.data.train, cache.data.test.rows() > 0 ? &cache.data.test : nullptr, gbdt_params,
                               &run.log, progress.callback());
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
        progress.finish();
    }
    // The trainer's buffers stay cached in the host allocator: give them back before the scoring rows are made.
    allocator_for(Device::cpu).release_cached();
    if (sum_count(cache.data.test.rows()) > 0)
        run.test = score_rank_rows(run.model, rows_for_scoring(cache.data.test), true);
    // Every rank holds the same model; only rank 0 writes it (and the metrics).
    if (!collective::is_root()) return kExitSuccess;
    save_model(run.model, o.output_model);
    print_scores(inv.out, "gbdt on the " + run.choice.label() + ": held-out scores (" + fixed(run.seconds, 1) +
                              "s of training, " +
                              fixed(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1) +
                              "s in all)",
                 run.test);
    return finish_train(inv, run, description);
}

int cmd_prepare(Invocation& inv) {
    const CliOptions& o = inv.options;
    if (o.task != "session") throw ParamError("task", "the dataset cache holds the session task (task=session)");
    if (o.cache_out.empty()) throw ParamError("out", "out=FILE is required: where the dataset cache is written");
    if (collective::size() > 1)
        throw UsageError("prepare writes one cache from every file: run it without mpirun (train under mpirun reads the cache in shares)");
    GbdtParams params;
    set_params(params, gbdt_param_table(), inv.learner_params);
    validate_gbdt_params(params);
    std::string description;
    CliOptions files_only = o;
    files_only.dataset.clear();
    // The LSTM's sequences stream into spill files beside the cache, which
    // the save copies in.
    data::SequenceCacheWriter sequences(o.cache_out);
    data::DatasetCache cache = session_rows_of(files_only, params, inv.err, description, &sequences);
    sequences.finish(cache);
    data::save_dataset_cache(o.cache_out, cache);
    inv.out << "prepared " << cache.data.train.rows() << " training rows and " << cache.data.test.rows()
            << " held-out rows (" << cache.data.train.num_features() << " features, one byte each) and the sessions' "
            << "lstm sequences from " << description << "\nwrote " << o.cache_out << '\n';
    return kExitSuccess;
}

// ---------------------------------------------------------------- commands

int cmd_bench(Invocation& inv) {
    const CliOptions& o = inv.options;
    BenchOptions options;
    options.learner = o.bench_learner;
    options.device = o.bench_device;
    options.peers = o.bench_peers;
    options.num_threads = o.num_threads;
    options.sessions = o.bench_sessions;
    write_metrics(o.metrics_out, run_bench(options, inv.out, inv.err), inv.err);
    return kExitSuccess;
}

int cmd_version(Invocation& inv) {
    inv.out << "skipper " << SKIPPER_VERSION << " (CUDA path " << (built_with_cuda() ? "built" : "not built")
            << "; BLAS: " << cpu::blas_config() << ")\n";
    return kExitSuccess;
}

int cmd_gen(Invocation& inv) {
    data::GeneratorOptions options;
    options.sessions = inv.options.sessions;
    options.seed = static_cast<uint64_t>(inv.options.seed);
    options.tracks = inv.options.num_tracks;
    if (inv.options.gen_files > 0 || inv.options.test_set) {
        const auto layout = data::write_generated_layout(options, inv.options.out_dir, std::max<int64_t>(1, inv.options.gen_files),
                                                         inv.options.test_set);
        inv.out << "wrote " << layout.rows << " rows from " << layout.sessions << " sessions to " << layout.log_paths.size()
                << " files in " << inv.options.out_dir << "/training_set\nwrote " << layout.tracks << " tracks to "
                << inv.options.out_dir << "/track_features\n";
        if (inv.options.test_set)
            inv.out << "wrote a test set of " << layout.test_sessions << " sessions to " << layout.prehistory_path << " and "
                    << layout.input_path << "\nwrote its labels to " << layout.labels_path << " and the whole sessions to "
                    << layout.full_sessions_path << '\n';
        return kExitSuccess;
    }
    const auto files = data::write_generated_mssd(options, inv.options.out_dir);
    inv.out << "wrote " << files.rows << " rows from " << files.sessions << " sessions to " << files.log_path
            << "\nwrote " << files.tracks << " tracks to " << files.tracks_path << '\n';
    return kExitSuccess;
}

int cmd_train(Invocation& inv) {
    const CliOptions& o = inv.options;
    const std::string& learner = o.learner;
    const KeyValues params = learner_params_with_device(inv, learner);
    // Parameters are checked before the data is read: a typo fails in a second.
    if (learner == "gbdt") {
        GbdtParams check;
        set_params(check, gbdt_param_table(), params);
        validate_gbdt_params(check);
    } else {
        lstm_params_from(params);
    }
    if (streams_session_rows(o)) return train_streamed(inv, params);
    const TaskChoice choice{parse_task(o.task), o.leak};
    // Data-parallel, the session LSTM reads its share of the files (or sessions).
    const bool shares = learner == "lstm" && choice.task == Task::session && collective::size() > 1 &&
                        !resolve_files(data_source_of(o)).logs.empty();
    const auto loaded = shares ? load_data_share(data_source_of(o), inv.err) : load_data(data_source_of(o), inv.err);
    inv.err << "data: " << loaded.description << '\n';
    const auto task_data = shares ? build_shared_sequences(loaded.mssd, loaded.session_keys,
                                                           {o.test_fraction, o.split_seed})
                                  : build_task_data(loaded.mssd, choice, learner == "lstm" && choice.task == Task::session,
                                                    {o.test_fraction, o.split_seed}, warning_printer(inv.err));
    // Otherwise every rank of a data-parallel job must hold the same data (it reads the same files).
    if (!shares)
        require_same_on_every_rank(fingerprint(task_data.train_rows) ^ fingerprint(task_data.train_sequences), "data");
    const TrainedRun run = train_with_progress(learner, task_data, params, inv.err);
    // Every rank holds the same model; only rank 0 writes it (and the metrics).
    if (!collective::is_root()) return kExitSuccess;
    save_model(run.model, o.output_model);
    print_scores(inv.out, learner + " on the " + choice.label() + ": held-out scores (" + fixed(run.seconds, 1) +
                              "s of training)",
                 run.test);
    return finish_train(inv, run, loaded.description);
}

void require_model(const CliOptions& o) {
    if (o.input_model.empty()) throw UsageError("model=FILE is required (a model saved by skipper train)");
}

int cmd_eval(Invocation& inv) {
    const CliOptions& o = inv.options;
    require_model(o);
    const AnyModel model = load_any_model(o.input_model);
    const TaskChoice choice = task_of(model);
    if (!o.dataset.empty() && std::holds_alternative<LstmModel>(model) && choice.task == Task::session) {
        std::string description;
        TaskData scoring;
        scoring.choice = choice;
        scoring.test_sequences = sequences_of(o, description).test;
        scoring.has_sequences = true;
        const Scores scores = score_model(model, scoring);
        print_scores(inv.out, "lstm model " + o.input_model + " on the " + choice.label() + ", the cache's held-out sessions", scores);
        json document = {{"command", "eval"}, {"model", o.input_model}, {"learner", "lstm"}, {"task", "session"},
                         {"data", description}, {"metrics", metrics_json(scores.metrics)}};
        write_metrics(o.metrics_out, document, inv.err);
        return kExitSuccess;
    }
    if (!o.dataset.empty()) {
        if (!std::holds_alternative<GbdtModel>(model) || choice.task != Task::session)
            throw ParamError("dataset", "the dataset cache holds the session task; this model is neither a session gbdt nor a session lstm");
        std::string description;
        const data::DatasetCache cache = session_rows_of(o, GbdtParams{}, inv.err, description);
        TaskData scoring;
        scoring.choice = choice;
        scoring.test_rows = rows_for_scoring(cache.data.test);
        const Scores scores = score_model(model, scoring);
        print_scores(inv.out, "gbdt model " + o.input_model + " on the " + choice.label() + ", the cache's held-out rows", scores);
        json document = {{"command", "eval"}, {"model", o.input_model}, {"learner", "gbdt"}, {"task", "session"},
                         {"data", description}, {"metrics", metrics_json(scores.metrics)}};
        write_metrics(o.metrics_out, document, inv.err);
        return kExitSuccess;
    }
    const auto loaded = load_data(data_source_of(o), inv.err);
    inv.err << "data: " << loaded.description << '\n';
    const bool sequences = std::holds_alternative<LstmModel>(model) && choice.task == Task::session;
    const auto task_data = build_task_data(loaded.mssd, choice, sequences, {1.0, 0}, warning_printer(inv.err));
    const Scores scores = score_model(model, task_data);
    print_scores(inv.out, learner_of(model) + " model " + o.input_model + " on the " + choice.label() + ", every row",
                 scores);
    json document = {{"command", "eval"}, {"model", o.input_model},   {"learner", learner_of(model)},
                     {"task", task_name(choice.task)}, {"data", loaded.description}, {"metrics", metrics_json(scores.metrics)}};
    write_metrics(o.metrics_out, document, inv.err);
    return kExitSuccess;
}

// The challenge's submission form: one line per test session, in the input
// files' order, holding the predictions of its second half as 0/1 digits
// (output_format=probabilities: comma-separated probabilities). Streamed one
// prehistory/input pair at a time.
int predict_test_set(Invocation& inv, const AnyModel& model, const TaskChoice& choice, const data::MssdFiles& files) {
    const CliOptions& o = inv.options;
    if (choice.task != Task::session)
        throw ParamError("model", "the test set asks for the session task; this model is a seed-task model");
    data::ReadOptions read;
    read.on_bad_row = data::parse_on_bad_row(o.on_bad_row);
    data::TrackTable tracks = data::read_track_tables(files.tracks, read, nullptr);
    const bool sequences = std::holds_alternative<LstmModel>(model);
    std::string text;
    int64_t sessions = 0, predictions = 0;
    char number[32];
    for (const auto& [prehistory, input] : data::pair_test_files(files.prehistory, files.inputs)) {
        data::MssdData mssd = data::join_tracks(data::read_test_pair(prehistory, input, read), std::move(tracks), read, nullptr);
        TaskData task;
        task.choice = choice;
        task.test_rows = data::build_session_rows(mssd);
        if (sequences) {
            task.test_sequences = data::build_session_sequences(mssd);
            task.has_sequences = true;
        }
        const std::vector<double> p = predict_test(model, task);
        // Rows come session by session (in code order: the input's), positions ascending.
        const auto& index = task.test_rows.session_index;
        for (size_t r = 0; r < p.size(); ++r) {
            const bool first = r == 0 || index[r] != index[r - 1];
            if (first && r > 0) text += '\n';
            if (o.output_format == "probabilities") {
                std::snprintf(number, sizeof number, "%s%.6f", first ? "" : ",", p[r]);
                text += number;
            } else {
                text += p[r] >= 0.5 ? '1' : '0';
            }
            sessions += first ? 1 : 0;
        }
        if (!p.empty()) text += '\n';
        predictions += static_cast<int64_t>(p.size());
        tracks = std::move(mssd.tracks);
    }
    write_file_atomically(o.output_result, text);
    inv.out << "wrote the " << (o.output_format == "probabilities" ? "probabilities" : "predicted skips") << " of "
            << predictions << " positions in " << sessions << " test sessions to " << o.output_result << '\n';
    return kExitSuccess;
}

int cmd_predict(Invocation& inv) {
    const CliOptions& o = inv.options;
    require_model(o);
    const AnyModel model = load_any_model(o.input_model);
    const TaskChoice choice = task_of(model);
    if (!o.data.empty()) {
        const data::MssdFiles files = resolve_files(data_source_of(o));
        if (!files.prehistory.empty() || !files.inputs.empty()) return predict_test_set(inv, model, choice, files);
    }
    const auto loaded = load_data(data_source_of(o), inv.err);
    const bool sequences = std::holds_alternative<LstmModel>(model) && choice.task == Task::session;
    const auto task_data = build_task_data(loaded.mssd, choice, sequences, {1.0, 0}, warning_printer(inv.err));
    const auto probabilities = predict_test(model, task_data);
    const auto& log = loaded.mssd.log;
    std::string csv = "session_id,session_position,probability,skipped\n";
    char line[64];
    const auto add = [&](int32_t session, int32_t position, double p) {
        std::snprintf(line, sizeof line, ",%d,%.6f,%d\n", position, p, p >= 0.5 ? 1 : 0);
        csv += log.session_ids[static_cast<size_t>(session)] + line;
    };
    if (choice.task == Task::seed) {
        const int32_t* session = log.session.data<int32_t>();
        const int32_t* position = log.session_position.data<int32_t>();
        for (size_t i = 0; i < probabilities.size(); ++i) add(session[i], position[i], probabilities[i]);
    } else if (!sequences) {
        for (size_t i = 0; i < probabilities.size(); ++i)
            add(task_data.test_rows.session_index[i], task_data.test_rows.position[i], probabilities[i]);
    } else {
        const auto& seq = task_data.test_sequences;
        const float* mask = seq.predict_mask.data<float>();
        size_t next = 0;
        for (int64_t s = 0; s < seq.sessions(); ++s)
            for (int64_t t = 0; t < seq.max_steps(); ++t)
                if (mask[s * seq.max_steps() + t] > 0.5f)
                    add(static_cast<int32_t>(s), static_cast<int32_t>(t + 1), probabilities[next++]);
    }
    if (collective::is_root()) write_file_atomically(o.output_result, csv);
    inv.out << "wrote " << probabilities.size() << " predictions to " << o.output_result << '\n';
    return kExitSuccess;
}

int cmd_serve(Invocation& inv) {
    const CliOptions& o = inv.options;
    require_model(o);
    std::shared_ptr<const Predictor> predictor = load_predictor(o.input_model);
    std::shared_ptr<const SessionInput> sessions;
    if (predictor->takes_sessions()) {
        if (o.tracks.empty())
            inv.err << "warning: a session model without tracks=FILE answers no session requests (they name their "
                       "tracks by id, and the track table's statistics standardise the features)\n";
        else
            sessions = std::make_shared<const SessionInput>(data::read_track_features(o.tracks));
    }
    ServerOptions server_options;
    server_options.host = o.host;
    server_options.port = static_cast<int>(o.port);
    server_options.threads = o.threads;
    server_options.max_body_bytes = o.max_body_bytes;
    server_options.max_connections = o.max_connections;
    server_options.idle_timeout_s = o.idle_timeout;
    server_options.header_timeout_s = o.header_timeout;
    server_options.body_timeout_s = o.body_timeout;
    server_options.access_log = o.access_log;
    PredictionServer server(predictor, server_options, sessions);
    const int port = server.bind();
    inv.out << "serving the " << predictor->learner() << " " << predictor->task() << " model " << o.input_model
            << " on http://" << o.host << ":" << port << "/ (Ctrl-C or SIGTERM stops)" << std::endl;
    server.run();
    inv.out << "stopped: every request answered" << std::endl;
    return kExitSuccess;
}

int cmd_report(Invocation& inv) {
    const CliOptions& o = inv.options;
    const auto loaded = load_data(data_source_of(o), inv.err);
    inv.err << "data: " << loaded.description << '\n';
    ReportInputs inputs;
    inputs.data_description = loaded.description;
    inputs.data = &loaded.mssd;
    const TaskChoice choice{Task::seed, false};
    const auto task_data = build_task_data(loaded.mssd, choice, false, {o.test_fraction, o.split_seed},
                                           warning_printer(inv.err, &inputs.warnings));
    const TrainedRun run = train_with_progress("gbdt", task_data, learner_params_with_device(inv, "gbdt"), inv.err);
    inputs.curves.push_back({"gbdt, " + choice.label(), "iteration", run.log});
    inputs.importance_title = "gbdt, " + choice.label() + ": total split gain per feature";
    inputs.importance_names = feature_names_of(run.model);
    inputs.importance_values = gain_importance(run.model);
    inputs.confusion_title = "gbdt, " + choice.label() + ", held-out rows";
    inputs.confusion = run.test.confusion;
    inputs.results.push_back({choice.label(), "gbdt", run.test.metrics, run.seconds});
    if (collective::is_root()) write_file_atomically(o.report, render_report(inputs));
    inv.out << "report written to " << o.report << '\n';
    return kExitSuccess;
}

// The main job: both learners on both tasks, and a results table.
int cmd_run(Invocation& inv) {
    const CliOptions& o = inv.options;
    const auto started = std::chrono::steady_clock::now();
    const auto loaded = load_data(data_source_of(o), inv.err);
    inv.err << "data: " << loaded.description << '\n';
    ReportInputs inputs;
    inputs.data_description = loaded.description;
    inputs.data = &loaded.mssd;
    json runs = json::array();
    const SplitOptions split{o.test_fraction, o.split_seed};
    const auto lstm_params = [&](int64_t epochs, int64_t batch_size) {
        KeyValues pairs = learner_params_with_device(inv, "lstm");
        pairs.emplace_back("epochs", std::to_string(epochs));
        pairs.emplace_back("batch_size", std::to_string(batch_size));
        return pairs;
    };
    KeyValues gbdt_params = learner_params_with_device(inv, "gbdt");
    gbdt_params.emplace_back("num_iterations", std::to_string(o.gbdt_iterations));
    // The original analysis's GBDT settings (DESIGN section 1).
    gbdt_params.insert(gbdt_params.begin(), {{"learning_rate", "0.09"}, {"max_depth", "5"}});

    const auto record = [&](const TrainedRun& run, const std::string& unit) {
        inputs.results.push_back({run.choice.label(), run.learner, run.test.metrics, run.seconds});
        inputs.curves.push_back({run.learner + ", " + run.choice.label(), unit, run.log});
        runs.push_back(run_json(run));
    };

    const auto warn = warning_printer(inv.err, &inputs.warnings);
    {
        const auto seed_leak = build_task_data(loaded.mssd, {Task::seed, true}, false, split, warn);
        record(train_with_progress("gbdt", seed_leak, gbdt_params, inv.err), "iteration");
        record(train_with_progress("lstm", seed_leak, lstm_params(o.seed_epochs, o.seed_batch_size), inv.err), "epoch");
    }
    {
        const auto seed_clean = build_task_data(loaded.mssd, {Task::seed, false}, false, split, warn);
        const TrainedRun run = train_with_progress("gbdt", seed_clean, gbdt_params, inv.err);
        inputs.importance_title = "gbdt, " + run.choice.label() + ": total split gain per feature";
        inputs.importance_names = feature_names_of(run.model);
        inputs.importance_values = gain_importance(run.model);
        inputs.confusion_title = "gbdt, " + run.choice.label() + ", held-out rows";
        inputs.confusion = run.test.confusion;
        record(run, "iteration");
    }
    {
        const auto session = build_task_data(loaded.mssd, {Task::session, false}, true, split, warn);
        const TrainedRun gbdt = train_with_progress("gbdt", session, gbdt_params, inv.err);
        ResultRow baseline{"session task", "repeat-last baseline", {}, 0.0};
        baseline.metrics["aa"] = gbdt.test.metrics.at("baseline_aa");
        baseline.metrics["first_accuracy"] = gbdt.test.metrics.at("baseline_first_accuracy");
        inputs.results.push_back(baseline);
        record(gbdt, "iteration");
        record(train_with_progress("lstm", session, lstm_params(o.session_epochs, o.session_batch_size), inv.err), "epoch");
    }

    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    inv.out << "\nSkipper results on " << loaded.description << "\n(held-out " << fixed(100 * o.test_fraction, 0)
            << "%: rows for the seed task, whole sessions for the session task; total time " << format_duration(total)
            << ")\n\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-30s %-22s %9s %7s %8s %9s\n", "seed task (is_skipped)", "learner", "accuracy",
                  "AUC", "logloss", "training");
    inv.out << line;
    for (const auto& row : inputs.results) {
        if (row.task.rfind("seed", 0) != 0) continue;
        std::snprintf(line, sizeof line, "%-30s %-22s %9s %7s %8s %9s\n",
                      row.task.substr(std::string("seed task, ").size()).c_str(), row.learner.c_str(),
                      fixed(row.metrics.at("accuracy")).c_str(), fixed(row.metrics.at("auc")).c_str(),
                      fixed(row.metrics.at("logloss")).c_str(), format_duration(row.seconds).c_str());
        inv.out << line;
    }
    std::snprintf(line, sizeof line, "\n%-30s %-22s %9s %7s %8s %9s\n", "session task (skip_2)", "learner", "AA",
                  "first", "AUC", "training");
    inv.out << line;
    for (const auto& row : inputs.results) {
        if (row.task != "session task") continue;
        const auto auc = row.metrics.find("auc");
        std::snprintf(line, sizeof line, "%-30s %-22s %9s %7s %8s %9s\n", "second half of each session",
                      row.learner.c_str(), fixed(row.metrics.at("aa")).c_str(),
                      fixed(row.metrics.at("first_accuracy")).c_str(),
                      auc == row.metrics.end() ? "" : fixed(auc->second).c_str(),
                      row.seconds > 0 ? format_duration(row.seconds).c_str() : "");
        inv.out << line;
    }
    // Which learner leads on the session task, in words (issue 15).
    double session_aa[2] = {NAN, NAN};  // gbdt, lstm
    for (const auto& row : inputs.results)
        if (row.task == "session task" && (row.learner == "gbdt" || row.learner == "lstm"))
            session_aa[row.learner == "lstm" ? 1 : 0] = row.metrics.at("aa");
    const double lead = session_aa[1] - session_aa[0];
    inv.out << "\nsession task: the " << (lead > 0 ? "lstm" : "gbdt") << " is ahead by " << fixed(std::fabs(lead))
            << " AA" << (lead > 0 ? "" : " (the lstm does not beat the gbdt on this data)") << '\n';
    inv.out << "\nwarning: the seed task's near-perfect accuracy with the leak comes from " << data::kLeakingColumn
            << ", which is written when the track ends; the rows without it are the honest figures.\n";
    if (!o.report.empty()) {
        if (collective::is_root()) write_file_atomically(o.report, render_report(inputs));
        inv.out << "report written to " << o.report << '\n';
    }
    write_metrics(o.metrics_out, {{"command", "run"}, {"data", loaded.description}, {"seconds", total}, {"runs", runs}},
                  inv.err);
    return kExitSuccess;
}

// ---------------------------------------------------------------- parsing

const std::vector<Command>& commands() {
    static const std::vector<Command> list = {
        {"run",
         "the main job: train both learners on both tasks and print a results table",
         "skipper run [data=DIR] [key=value ...]",
         with_data({spec_device(), spec_num_threads(), spec_test_fraction(), spec_split_seed(),
                    {"gbdt_iterations", &CliOptions::gbdt_iterations, 1, 100000, {}, "boosting rounds of each gbdt"},
                    {"seed_epochs", &CliOptions::seed_epochs, 1, 10000, {}, "epochs of the seed-arch lstm"},
                    {"session_epochs", &CliOptions::session_epochs, 1, 10000, {}, "epochs of the session-arch lstm"},
                    {"seed_batch_size", &CliOptions::seed_batch_size, 1, 1 << 20, {}, "mini-batch of the seed-arch lstm"},
                    {"session_batch_size", &CliOptions::session_batch_size, 1, 1 << 20, {},
                     "mini-batch of the session-arch lstm"},
                    {"report", &CliOptions::report, 0, 0, {}, "HTML report with the charts (empty: none)"},
                    spec_metrics_out()}),
         false,
         cmd_run},
        {"gen",
         "write a synthetic MSSD sample: DIR/log_0.csv and DIR/tf_0.csv",
         "skipper gen --sessions N --seed S --out DIR [--files K] [--test-set]",
         {{"sessions", &CliOptions::sessions, 1, 50000000, {}, "sessions to generate"},
          {"num_tracks", &CliOptions::num_tracks, 0, 1e9, {}, "track catalogue size (0: about 5 per session, at least 1000)"},
          {"seed", &CliOptions::seed, 0, kMaxInt, {}, "generator seed"},
          {"out", &CliOptions::out_dir, 0, 0, {}, "output folder (created if missing)"},
          {"files", &CliOptions::gen_files, 0, 100000, {}, "write the real layout with this many log files (0: log_0.csv)"},
          {"test_set", &CliOptions::test_set, 0, 0, {}, "also write a test set (prehistory/input) and its labels"}},
         false,
         cmd_gen},
        {"train",
         "train one learner on one task and save the model",
         "skipper train [gbdt|lstm] [task=seed|session] [data=DIR] [output_model=FILE] [key=value ...]",
         with_data({spec_learner(), spec_task(), spec_leak(), spec_device(), spec_num_threads(),
                    spec_test_fraction(), spec_split_seed(), spec_output_model(), spec_metrics_out(), spec_dataset()}),
         true,
         cmd_train},
        {"prepare",
         "stream the data once into a binned dataset cache (session-task gbdt rows) for train/eval dataset=FILE",
         "skipper prepare data=DIR task=session out=FILE [files=...] [sample_sessions=F] [max_bin=255 ...]",
         with_data({spec_task(), spec_num_threads(), spec_test_fraction(), spec_split_seed(),
                    {"out", &CliOptions::cache_out, 0, 0, {}, "the dataset cache file to write", {"output"}}}),
         true,
         cmd_prepare},
        {"eval",
         "score a saved model on every row of the data",
         "skipper eval model=FILE [data=DIR] [metrics_out=FILE]",
         with_data({spec_input_model(), spec_metrics_out(), spec_dataset()}),
         false,
         cmd_eval},
        {"predict",
         "write a saved model's skip probabilities for the data as csv",
         "skipper predict model=FILE [data=DIR] [output_result=FILE] [output_format=submission|probabilities]",
         with_data({spec_input_model(), spec_output_result(),
                    {"output_format", &CliOptions::output_format, 0, 0, {"submission", "probabilities"},
                     "on a test set (test_set/): 0/1 digits per session, or the probabilities"}}),
         false,
         cmd_predict},
        {"serve",
         "serve a model over HTTP: a web form, a JSON API, health and metadata",
         "skipper serve model=FILE [port=8080] [host=127.0.0.1] [tracks=FILE] [access_log=off|stdout|FILE]",
         {spec_input_model(),
          {"host", &CliOptions::host, 0, 0, {}, "address to listen on (0.0.0.0: every interface)"},
          {"port", &CliOptions::port, 0, 65535, {}, "TCP port (0: any free port)"},
          {"threads", &CliOptions::threads, 0, 4096, {}, "prediction threads (0: one per core)"},
          {"max_body_bytes", &CliOptions::max_body_bytes, 1024, 1 << 30, {}, "larger requests get 413"},
          {"max_connections", &CliOptions::max_connections, 1, 10000000, {}, "past this, new connections get 503"},
          {"idle_timeout", &CliOptions::idle_timeout, 0.01, 86400, {}, "seconds an idle keep-alive connection is kept"},
          {"header_timeout", &CliOptions::header_timeout, 0.01, 3600, {}, "seconds from a request's first byte to its header's end"},
          {"body_timeout", &CliOptions::body_timeout, 0.01, 3600, {}, "seconds to read a request's body (and to write an answer)"},
          {"access_log", &CliOptions::access_log, 0, 0, {}, "one line per request: off, stdout, or a file to append to"},
          {"tracks", &CliOptions::tracks, 0, 0, {}, "track-features csv: session requests name their tracks by id"}},
         false,
         cmd_serve},
        {"report",
         "write one self-contained HTML report with charts of the data and a trained gbdt",
         "skipper report [data=DIR] [out=FILE] [key=value ...]",
         with_data({{"out", &CliOptions::report, 0, 0, {}, "the HTML file to write", {"output"}}, spec_num_threads(),
                    spec_test_fraction(), spec_split_seed()}),
         true,
         cmd_report},
        {"bench",
         "measure training throughput on this machine: gbdt rows x trees/s, lstm sequences/s",
         "skipper bench [learner=gbdt|lstm|all] [device=cpu|cuda|all] [peers=true] [metrics_out=FILE]",
         {{"learner", &CliOptions::bench_learner, 0, 0, {"gbdt", "lstm", "all"}, "which learners to time"},
          {"device", &CliOptions::bench_device, 0, 0, {"cpu", "cuda", "all"}, "all: every device present"},
          {"peers", &CliOptions::bench_peers, 0, 0, {}, "also run LightGBM/XGBoost, PyTorch and cuDNN where installed"},
          {"sessions", &CliOptions::bench_sessions, 100, 50000000, {}, "generated sessions the gbdt trains on"},
          spec_num_threads(), spec_metrics_out()},
         false,
         cmd_bench},
        {"version", "print the version, the CUDA build and the BLAS in use", "skipper version", {}, false, cmd_version},
    };
    return list;
}

std::string general_help() {
    std::string text =
        "skipper: skip prediction on Spotify's MSSD data, with a GBDT and a bidirectional LSTM\n\n"
        "usage: skipper <command> [key=value ...] [config=FILE] [--help]\n\ncommands:\n";
    for (const auto& command : commands()) {
        std::string line = std::string("  ") + command.name;
        line.resize(12, ' ');
        text += line + command.summary + "\n";
    }
    text += "\nParameters are key=value (or --key value); config=FILE reads more, one per line, and the command\n"
            "line wins over the file. Exit codes: 0 success, 1 failure, 2 bad usage.\n"
            "Start with: skipper run\n";
    return text;
}

std::string command_help(const Command& command) {
    std::string text = std::string("skipper ") + command.name + ": " + command.summary + "\n\nusage: " +
                       command.usage + "\n";
    if (!command.options.empty()) text += "\noptions:\n" + params_help(command.options);
    if (command.takes_learner_params) {
        if (std::string(command.name) == "train")
            text += "\nlstm parameters (learner=lstm; task=seed sets arch=seed, task=session defaults to session_seq2seq):\n" + params_help(lstm_param_table());
        text += "\ngbdt parameters (LightGBM's names and defaults):\n" + params_help(gbdt_param_table());
    }
    return text;
}

const Command* find_command(const std::string& name) {
    for (const auto& command : commands())
        if (name == command.name) return &command;
    return nullptr;
}

struct ParsedLine {
    bool help = false;
    KeyValues pairs;
    std::vector<std::string> bare_words;
};

// Accepts key=value, --key=value and --key value (dashes in keys read as
// underscores, so --metrics-out is metrics_out). config=FILE pairs come first,
// so the command line overrides them.
ParsedLine parse_line(const std::vector<std::string>& args) {
    ParsedLine parsed;
    KeyValues from_command_line;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        if (arg == "--help" || arg == "-h" || arg == "help") {
            parsed.help = true;
            continue;
        }
        const bool dashed = arg.rfind("--", 0) == 0;
        if (dashed) arg = arg.substr(2);
        std::string key, value;
        const size_t eq = arg.find('=');
        if (eq != std::string::npos) {
            key = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (dashed && (arg == "test-set" || arg == "test_set")) {
            // A switch: --test-set alone means true.
            key = arg;
            value = "true";
        } else if (dashed) {
            if (i + 1 >= args.size()) throw UsageError("--" + arg + " needs a value");
            key = arg;
            value = args[++i];
        } else {
            parsed.bare_words.push_back(arg);
            continue;
        }
        for (auto& c : key)
            if (c == '-') c = '_';
        if (key.empty()) throw UsageError("'" + args[i] + "' has no parameter name before '='");
        if (key == "config") {
            KeyValues file_pairs;
            try {
                file_pairs = read_config_file(value);
            } catch (const DataError& e) {
                throw UsageError(std::string("config file: ") + e.what());
            }
            parsed.pairs.insert(parsed.pairs.end(), file_pairs.begin(), file_pairs.end());
        } else {
            from_command_line.emplace_back(key, value);
        }
    }
    parsed.pairs.insert(parsed.pairs.end(), from_command_line.begin(), from_command_line.end());
    return parsed;
}

bool learner_accepts(const std::string& learner, const std::string& key) {
    if (learner == "lstm") return find_param(lstm_param_table(), key) != nullptr;
    return find_param(gbdt_param_table(), key) != nullptr;
}

Invocation make_invocation(const Command& command, const ParsedLine& line, std::ostream& out, std::ostream& err) {
    Invocation inv{CliOptions{}, {}, out, err};
    const bool names_learner = find_param(command.options, "learner") != nullptr;
    for (const auto& word : line.bare_words) {
        if (names_learner && (word == "gbdt" || word == "lstm")) {
            inv.options.learner = word;
            continue;
        }
        throw UsageError("unexpected argument '" + word + "' (parameters are key=value)");
    }
    for (const auto& [key, value] : line.pairs)
        if (key == "learner" && names_learner) set_param(inv.options, command.options, key, value);
    const std::string learner = command.takes_learner_params && names_learner ? inv.options.learner : "gbdt";
    for (const auto& [key, value] : line.pairs) {
        if (find_param(command.options, key) != nullptr) {
            set_param(inv.options, command.options, key, value);
        } else if (command.takes_learner_params && learner_accepts(learner, key)) {
            inv.learner_params.emplace_back(key, value);
        } else {
            std::string known;
            for (const auto& spec : command.options) known += (known.empty() ? "" : ", ") + std::string(spec.name);
            if (command.takes_learner_params) known += ", and the " + learner + " parameters";
            throw ParamError(key, "unknown parameter for skipper " + std::string(command.name) +
                                      (known.empty() ? std::string(" (it takes none)") : " (known: " + known + ")"));
        }
    }
    return inv;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << general_help();
        return kExitUsage;
    }
    const std::string& name = args.front();
    if (name == "--help" || name == "-h" || name == "help") {
        out << general_help();
        return kExitSuccess;
    }
    if (name == "--version") return run_cli({"version"}, out, err);
    const Command* command = find_command(name);
    if (command == nullptr) {
        err << "skipper: unknown command '" << name << "'\n\n" << general_help();
        return kExitUsage;
    }
    // In a data-parallel job the message names the rank that failed.
    const std::string rank = collective::size() == 1 ? std::string()
                                                     : " (rank " + std::to_string(collective::rank()) + " of " +
                                                           std::to_string(collective::size()) + ")";
    const std::string prefix = std::string("skipper ") + command->name + ": error" + rank + ": ";
    try {
        const ParsedLine line = parse_line({args.begin() + 1, args.end()});
        if (line.help) {
            out << command_help(*command);
            return kExitSuccess;
        }
        Invocation inv = make_invocation(*command, line, out, err);
        return command->run(inv);
    } catch (const UsageError& e) {
        err << prefix << e.what() << "\n(see skipper " << command->name << " --help)\n";
        return kExitUsage;
    } catch (const ParamError& e) {
        err << prefix << e.what() << "\n(see skipper " << command->name << " --help)\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        err << prefix << e.what() << '\n';
        return kExitFailure;
    }
}

}  // namespace skipper::tools
