#include "tools/bench.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "engine/context.h"
#include "engine/cuda_device.h"
#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "engine/ops.h"
#include "kernels/cpu/matmul.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/lstm/network.h"
#include "tools/experiment.h"

namespace skipper::tools {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// The first line of /proc/cpuinfo that starts with `key`, after its colon.
std::string cpuinfo_field(const std::string& key) {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0) {
            const size_t colon = line.find(':');
            return colon == std::string::npos ? "" : line.substr(colon + 2);
        }
    return "";
}

std::string first_line_of(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// What makes figures comparable across machines: the CPU and the vector
// extensions the kernels use, the cores, the GPU, the versions, the load.
json machine_json(int threads) {
    const std::string flags = " " + cpuinfo_field("flags") + " ";
    json vector_flags = json::array();
    for (const char* flag : {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile"})
        if (flags.find(std::string(" ") + flag + " ") != std::string::npos) vector_flags.push_back(flag);
    json machine = {{"cpu_model", cpuinfo_field("model name")},
                    {"cpu_flags", vector_flags},
                    {"cores", omp_get_num_procs()},
                    {"threads", threads},
                    {"load_average", first_line_of("/proc/loadavg")},
                    {"skipper_version", SKIPPER_VERSION},
                    {"blas", cpu::blas_config()},
                    {"compiler", __VERSION__},
                    {"cuda", built_with_cuda() ? cuda_versions() : "not built"},
                    {"gpu", nullptr}};
    if (cuda_available()) machine["gpu"] = cuda_device_name();
    return machine;
}

std::vector<Device> devices_of(const std::string& choice) {
    std::vector<Device> devices;
    if (choice == "cpu" || choice == "all") devices.push_back(Device::cpu);
    if (choice == "cuda" || (choice == "all" && cuda_available())) {
        if (!cuda_available()) throw ParamError("device", "cuda asked for, but no usable GPU is present");
        devices.push_back(Device::cuda);
    }
    return devices;
}

// GBDT: the seed task's setting (learning rate 0.09, depth 5) and the session
// task's (LightGBM's defaults) on the generated sample's rows of each task;
// rows x trees / s of the whole training (binning included), median of three.
void bench_gbdt(const BenchOptions& o, const data::MssdData& mssd, json& rows, std::ostream& err) {
    for (Task task : {Task::seed, Task::session}) {
        const TaskData data = build_task_data(mssd, TaskChoice{task, true}, false, SplitOptions{}, [](const std::string&) {});
        GbdtParams params;
        if (task == Task::seed) {
            params.learning_rate = 0.09;
            params.max_depth = 5;
        }
        params.num_iterations = o.gbdt_iterations;
        params.num_threads = o.num_threads;
        std::vector<double> seconds;
        int64_t trees = 0;
        for (int repeat = 0; repeat < 3; ++repeat) {
            const auto start = Clock::now();
            trees = train_gbdt(data.train_rows, nullptr, params).num_trees();
            seconds.push_back(seconds_since(start));
        }
        const double n_rows = static_cast<double>(data.train_rows.labels.numel());
        const double t = median(seconds);
        err << "bench: gbdt " << task_name(task) << " done\n";
        rows.push_back({{"learner", "gbdt"},
                        {"shape", task_name(task)},
                        {"device", "cpu"},
                        {"rows", n_rows},
                        {"features", data.train_rows.num_features()},
                        {"trees", trees},
                        {"seconds_median", t},
                        {"value", n_rows * static_cast<double>(trees) / t},
                        {"unit", "rows x trees / s"}});
    }
}

struct LstmShape {
    const char* name;
    int64_t steps, features;
    bool output_every_step;
};

// LSTM: B = 1000 sequences, 2 bidirectional layers of 116, f32, Adam; seed
// T = 13, F = 1, one output per sequence; session T = 20, F = the pipeline's
// per-step features, an output at every step on ragged sessions. The batch is
// resident (filled once): the figure is the training compute.
void bench_lstm(const BenchOptions& o, int64_t session_features, Device device, json& rows, std::ostream& err) {
    constexpr int64_t kBatch = 1000;
    for (const LstmShape& s : {LstmShape{"seed", 13, 1, false}, LstmShape{"session", 20, session_features, true}}) {
        lstm::LstmArchitecture arch;
        arch.input_size = s.features;
        arch.output_every_step = s.output_every_step;
        lstm::LstmNetwork net(arch, DType::f32, device, static_cast<int>(o.num_threads));
        net.set_cuda_graph(true);
        net.initialize(42);
        lstm::LstmBatch& batch = net.batch(s.steps, kBatch);
        Context& ctx = net.context();
        ops::fill_uniform(ctx, batch.inputs, -1.0, 1.0, 1);
        ops::fill(ctx, batch.mask, 1.0);
        ops::fill_uniform(ctx, batch.targets, 0.0, 1.0, 2);
        ops::fill(ctx, batch.weights, 1.0);
        Tensor& params = net.flat_parameters();
        Tensor m = Tensor::zeros(params.shape(), DType::f32, ctx), v = Tensor::zeros(params.shape(), DType::f32, ctx);
        const ops::AdamOptions adam;
        int64_t step = 0;
        auto train_step = [&] {
            net.forward_backward();
            ops::adam_step(ctx, params, net.flat_gradients(), m, v, adam, ++step);
        };
        train_step();  // warm-up: first-touch allocation, cuBLAS heuristics
        ctx.synchronize();
        std::vector<double> seconds;
        for (int64_t i = 0; i < o.lstm_steps; ++i) {
            const auto start = Clock::now();
            train_step();
            ctx.synchronize();
            seconds.push_back(seconds_since(start));
        }
        const double t = median(seconds);
        err << "bench: lstm " << s.name << " on " << device_name(device) << " done\n";
        rows.push_back({{"learner", "lstm"},
                        {"shape", s.name},
                        {"device", device_name(device)},
                        {"batch", kBatch},
                        {"steps", s.steps},
                        {"features", s.features},
                        {"hidden", 116},
                        {"seconds_per_step_median", t},
                        {"value", static_cast<double>(kBatch) / t},
                        {"unit", "sequences / s"}});
    }
}

// Runs `command`, returning its exit status and output (stdout and stderr).
std::pair<int, std::string> run_command(const std::string& command) {
    std::string output;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return {-1, "could not start: " + command};
    char buffer[4096];
    while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    const int status = pclose(pipe);
    return {status, output};
}

bool python_has(const std::string& module) {
    return run_command("python3 -c 'import " + module + "'").first == 0;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The peers through their own scripts in bench/peers (run from a source tree
// with the bench drivers built next to this binary), each with short settings.
// A peer that is not installed is reported as skipped, with the reason.
json run_peers(const BenchOptions& o, const std::vector<Device>& devices, int64_t session_features,
               const std::string& build_dir, std::ostream& err) {
    const std::string peers = std::string(SKIPPER_SOURCE_DIR) + "/bench/peers/";
    const std::string threads = std::to_string(o.num_threads > 0 ? o.num_threads : omp_get_num_procs());
    json results = json::array();
    auto run_peer = [&](const std::string& name, const std::vector<std::string>& modules, const std::string& command,
                        const std::string& out_file) {
        for (const auto& module : modules)
            if (!python_has(module)) {
                results.push_back({{"peer", name}, {"skipped", "python3 cannot import " + module}});
                return;
            }
        err << "bench: peer " << name << ": " << command << '\n';
        const auto [status, output] = run_command(command);
        json entry = {{"peer", name}, {"command", command}, {"exit_status", status}, {"output", output}};
        if (!out_file.empty()) {
            try {
                entry["result"] = json::parse(read_text(out_file));
            } catch (const json::exception&) {
                entry["result"] = read_text(out_file);
            }
        }
        results.push_back(std::move(entry));
    };
    const std::string work = "/tmp/skipper_bench_peers_" + std::to_string(getpid());
    if (o.learner != "lstm")
        run_peer("lightgbm+xgboost", {"numpy", "lightgbm"},
                 "python3 " + peers + "gbdt_peers.py --driver " + build_dir + "/bench/gbdt_driver --tasks seed,session"
                     " --repeats 1 --scale 0.1 --threads " + threads + " --work " + work + " --markdown " + work +
                     ".md",
                 work + ".md");
    if (o.learner != "gbdt")
        for (Device device : devices) {
            if (device == Device::cpu)
                run_peer("pytorch-cpu", {"numpy", "torch"},
                         "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 " + peers +
                             "lstm_vs_torch.py --driver " + build_dir + "/bench/lstm_driver --threads " + threads +
                             " --train-steps 2 --infer-steps 2 --rounds 1 --session-features " +
                             std::to_string(session_features) + " --out " + work + "_torch.json",
                         work + "_torch.json");
            else
                run_peer("pytorch-cudnn", {"torch"},
                         "python3 " + peers + "lstm_cudnn.py --session-features " + std::to_string(session_features) +
                             " --repeats 3 --out " + work + "_cudnn.json",
                         work + "_cudnn.json");
        }
    return results;
}

std::string build_dir_of_this_binary() {
    // BUILD/tools/skipper -> BUILD
    std::string exe(4096, '\0');
    const ssize_t n = readlink("/proc/self/exe", exe.data(), exe.size() - 1);
    if (n <= 0) return ".";
    exe.resize(static_cast<size_t>(n));
    const size_t tools = exe.rfind("/tools/");
    return tools == std::string::npos ? exe.substr(0, exe.rfind('/')) : exe.substr(0, tools);
}

std::string format(double value) {
    char buffer[32];
    if (value >= 1e6) std::snprintf(buffer, sizeof buffer, "%.3g M", value * 1e-6);
    else if (value >= 1e3) std::snprintf(buffer, sizeof buffer, "%.3g k", value * 1e-3);
    else std::snprintf(buffer, sizeof buffer, "%.3g", value);
    return buffer;
}

}  // namespace

json run_bench(const BenchOptions& o, std::ostream& out, std::ostream& err) {
    if (o.learner != "gbdt" && o.learner != "lstm" && o.learner != "all")
        throw ParamError("learner", "expected gbdt, lstm or all, got '" + o.learner + "'");
    const std::vector<Device> devices = devices_of(o.device);
    set_num_threads(static_cast<int>(o.num_threads));
    json document = {{"command", "bench"}, {"machine", machine_json(num_threads())}, {"results", json::array()}};
    json& rows = document["results"];
    data::GeneratorOptions generator;
    generator.sessions = o.sessions;
    const data::MssdData mssd = data::generate_mssd(generator);
    const int64_t session_features = data::build_session_sequences(mssd).num_features();
    const auto started = Clock::now();
    if (o.learner != "lstm" && std::find(devices.begin(), devices.end(), Device::cpu) != devices.end())
        bench_gbdt(o, mssd, rows, err);
    if (o.learner != "gbdt")
        for (Device device : devices) bench_lstm(o, session_features, device, rows, err);
    document["seconds"] = seconds_since(started);
    if (o.peers) document["peers"] = run_peers(o, devices, session_features, build_dir_of_this_binary(), err);

    out << "skipper bench: " << document["machine"]["cpu_model"].get<std::string>() << ", "
        << document["machine"]["threads"] << " threads";
    if (!document["machine"]["gpu"].is_null()) out << ", " << document["machine"]["gpu"].get<std::string>();
    out << " (load average " << document["machine"]["load_average"].get<std::string>().substr(0, 14) << ")\n";
    char line[160];
    std::snprintf(line, sizeof line, "%-6s %-8s %-5s %12s  %s\n", "learner", "shape", "device", "value", "unit");
    out << line;
    for (const auto& row : rows) {
        std::snprintf(line, sizeof line, "%-6s %-8s %-5s %12s  %s\n", row["learner"].get<std::string>().c_str(),
                      row["shape"].get<std::string>().c_str(), row["device"].get<std::string>().c_str(),
                      format(row["value"].get<double>()).c_str(), row["unit"].get<std::string>().c_str());
        out << line;
    }
    if (document.contains("peers"))
        for (const auto& peer : document["peers"]) {
            out << "\npeer " << peer["peer"].get<std::string>() << ": ";
            if (peer.contains("skipped")) out << "skipped (" << peer["skipped"].get<std::string>() << ")\n";
            else out << "exit status " << peer["exit_status"] << "\n" << peer["output"].get<std::string>();
        }
    return document;
}

}  // namespace skipper::tools
