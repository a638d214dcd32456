// Skipper's side of the PyTorch LSTM comparison (bench/peers/lstm_vs_torch.py).
// The harness writes a batch and the initial weights as .npy files with a
// manifest; this program loads them into the LSTM network and
//   lstm_driver grads DIR   writes the loss and every gradient of one step
//                           (DIR/ours.grad.<name>.npy, DIR/ours.json);
//   lstm_driver bench DIR   times training steps (forward + backward + Adam)
//                           and inference passes, printing one JSON object
//                           with per-step seconds and the peak resident memory.
//
// DIR/manifest.json: {"arch": "seed"|"session", "steps": T, "batch": B,
// "input_size": F, "hidden_size": H, "num_layers": L, "bidirectional": true,
// "learning_rate": lr, "epsilon": eps, "num_threads": n}; DIR/inputs.npy
// [T, B, F], mask.npy [T, B], targets.npy and weights.npy ([T, B] or [B]),
// param.<name>.npy under LstmNetwork's (PyTorch's) parameter names.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/lstm_ops.h"
#include "trainer/data/npy.h"
#include "trainer/lstm/network.h"

namespace {

using skipper::Device;
using skipper::DType;
using skipper::Tensor;
using skipper::lstm::LstmArchitecture;
using skipper::lstm::LstmNetwork;

struct Run {
    nlohmann::json manifest;
    LstmArchitecture arch;
    int64_t steps = 0, batch = 0;
};

Run read_manifest(const std::string& dir) {
    std::ifstream in(dir + "/manifest.json");
    if (!in) throw skipper::Error("cannot open " + dir + "/manifest.json");
    Run run;
    run.manifest = nlohmann::json::parse(in);
    const auto& m = run.manifest;
    run.arch.input_size = m.at("input_size").get<int64_t>();
    run.arch.hidden_size = m.at("hidden_size").get<int64_t>();
    run.arch.num_layers = m.at("num_layers").get<int64_t>();
    run.arch.bidirectional = m.at("bidirectional").get<bool>();
    run.arch.output_every_step = m.at("arch").get<std::string>() == "session";
    run.steps = m.at("steps").get<int64_t>();
    run.batch = m.at("batch").get<int64_t>();
    return run;
}

void load(const std::string& dir, const Run& run, LstmNetwork& net) {
    for (const auto& name : net.parameter_names())
        net.set_parameter(name, skipper::data::read_npy(dir + "/param." + name + ".npy"));
    auto& batch = net.batch(run.steps, run.batch);
    batch.inputs.copy_from(skipper::data::read_npy(dir + "/inputs.npy"));
    batch.mask.copy_from(skipper::data::read_npy(dir + "/mask.npy"));
    batch.targets.copy_from(skipper::data::read_npy(dir + "/targets.npy"));
    batch.weights.copy_from(skipper::data::read_npy(dir + "/weights.npy"));
}

// VmHWM, the peak resident set of this process image. (getrusage's ru_maxrss
// would carry over the peak of the harness process that forked us.)
double peak_rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // in kB
    return 0.0;
}

int grads(const std::string& dir) {
    const Run run = read_manifest(dir);
    LstmNetwork net(run.arch, DType::f32, Device::cpu, run.manifest.value("num_threads", 2));
    load(dir, run, net);
    const double loss = net.forward_backward();
    for (const auto& name : net.parameter_names())
        skipper::data::write_npy(dir + "/ours.grad." + name + ".npy", net.gradient(name));
    std::ofstream(dir + "/ours.json") << nlohmann::json{{"loss", loss}}.dump() << "\n";
    return 0;
}

int bench(const std::string& dir, int64_t train_steps, int64_t infer_steps, int64_t warmup) {
    const Run run = read_manifest(dir);
    const double rss_before = peak_rss_mib();
    LstmNetwork net(run.arch, DType::f32, Device::cpu, run.manifest.value("num_threads", 2));
    load(dir, run, net);
    skipper::ops::AdamOptions adam;
    adam.learning_rate = run.manifest.value("learning_rate", 1e-3);
    adam.epsilon = run.manifest.value("epsilon", 1e-7);
    Tensor& params = net.flat_parameters();
    Tensor m = Tensor::zeros(params.shape(), DType::f32), v = Tensor::zeros(params.shape(), DType::f32);
    int64_t step = 0;
    using Clock = std::chrono::steady_clock;
    std::vector<double> train_seconds, infer_seconds;
    for (int64_t i = 0; i < warmup + train_steps; ++i) {
        const auto start = Clock::now();
        net.forward_backward();
        skipper::ops::adam_step(net.context(), params, net.flat_gradients(), m, v, adam, ++step);
        if (i >= warmup) train_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    for (int64_t i = 0; i < warmup + infer_steps; ++i) {
        const auto start = Clock::now();
        net.forward();
        if (i >= warmup) infer_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    const nlohmann::json out{{"train_seconds", train_seconds},
                             {"infer_seconds", infer_seconds},
                             {"rss_before_mib", rss_before},
                             {"peak_rss_mib", peak_rss_mib()},
                             {"threads", net.context().num_threads()}};
    std::cout << out.dump() << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::vector<std::string> args(argv + 1, argv + argc);
        if (args.size() == 2 && args[0] == "grads") return grads(args[1]);
        if (args.size() == 5 && args[0] == "bench")
            return bench(args[1], std::stoll(args[2]), std::stoll(args[3]), std::stoll(args[4]));
        std::cerr << "usage: lstm_driver grads DIR\n"
                     "       lstm_driver bench DIR TRAIN_STEPS INFER_STEPS WARMUP\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "lstm_driver: " << e.what() << "\n";
        return 1;
    }
}
