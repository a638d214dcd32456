#!/usr/bin/env python3
"""Skipper's CPU Bi-LSTM side by side with PyTorch's nn.LSTM on the CPU.

Both sides load the same initial weights (PyTorch's default initialisation,
written by this script) and the same batch, at B=1000 with 2 bidirectional
layers of 116:
  seed:    T=13, F=1, one output per sequence from the last layer's final
           states (Keras's Bidirectional(LSTM) x2 -> Dense(1, sigmoid));
  session: T=20, F=--session-features, an output at every step, the loss on
           the second half of each right-padded session (lengths 10..20).

1. Numerics: the first step's loss and every gradient, Skipper (f32) against
   PyTorch (f32), both also against PyTorch in f64. The session batch runs
   through pack_padded_sequence on the PyTorch side: the exact masking that
   Skipper's masked steps compute.
2. Throughput, in one run with the same thread count: training steps
   (forward + backward + Adam) and inference passes, each side in its own
   process (so that its peak resident memory is its own), alternating rounds;
   per-step medians. PyTorch's session side is timed packed (exact) and
   padded (the same work as Skipper, but its reverse direction then reads the
   padding).

Run it with the OpenBLAS variables unset, as the comparison with a peer that
uses MKL/oneDNN requires:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/peers/lstm_vs_torch.py \
      --driver build/bench/lstm_driver
Writes JSON (--out) and prints a Markdown summary.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

HIDDEN = 116
LAYERS = 2
BATCH = 1000
LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras's Adam epsilon, which Skipper uses by default


class BiLstm(nn.Module):
    def __init__(self, features, every_step):
        super().__init__()
        self.every_step = every_step
        self.lstm = nn.LSTM(features, HIDDEN, num_layers=LAYERS, bidirectional=True)
        self.fc = nn.Linear(2 * HIDDEN, 1)

    def forward(self, x, lengths=None):
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            out, (h_n, _) = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        else:
            out, (h_n, _) = self.lstm(x)
        if self.every_step:
            return self.fc(out).squeeze(-1)  # [T, B]
        # Keras's last state: forward at t = T-1, reverse after reading back to t = 0.
        return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1)).squeeze(-1)  # [B]


def masked_bce(logits, targets, weights):
    losses = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * weights).sum() / weights.sum()


def make_batch(arch, features, seed):
    rng = np.random.default_rng(seed)
    steps = 13 if arch == "seed" else 20
    x = rng.standard_normal((steps, BATCH, features)).astype(np.float32)
    if arch == "seed":
        lengths = np.full(BATCH, steps)
        targets = (rng.random(BATCH) < 0.5).astype(np.float32)
        weights = np.ones(BATCH, dtype=np.float32)
    else:
        lengths = rng.integers(10, steps + 1, BATCH)
        targets = (rng.random((steps, BATCH)) < 0.5).astype(np.float32)
    t = np.arange(steps)[:, None]
    mask = (t < lengths[None, :]).astype(np.float32)
    x *= mask[:, :, None]
    if arch == "session":
        weights = (mask * (t >= (lengths // 2)[None, :])).astype(np.float32)
        targets *= mask
    return steps, x, mask, targets, weights, lengths


def our_name(torch_name):
    """PyTorch's parameter name -> Skipper's (bias_ih + bias_hh -> bias)."""
    name = torch_name.replace("lstm.", "")
    return name.replace("bias_ih", "bias")


def write_case(directory, arch, features, threads, seed):
    steps, x, mask, targets, weights, lengths = make_batch(arch, features, seed)
    torch.manual_seed(seed)
    model = BiLstm(features, arch == "session")
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    for name, value in state.items():
        if "bias_hh" in name:
            continue
        if "bias_ih" in name:
            value = value + state[name.replace("bias_ih", "bias_hh")]
        np.save(os.path.join(directory, "param." + our_name(name) + ".npy"), value.astype(np.float32))
    for name, value in (("inputs", x), ("mask", mask), ("targets", targets), ("weights", weights)):
        np.save(os.path.join(directory, name + ".npy"), value)
    np.save(os.path.join(directory, "lengths.npy"), lengths.astype(np.int64))
    torch.save(model.state_dict(), os.path.join(directory, "torch_state.pt"))
    manifest = dict(arch=arch, steps=steps, batch=BATCH, input_size=features, hidden_size=HIDDEN,
                    num_layers=LAYERS, bidirectional=True, learning_rate=LEARNING_RATE, epsilon=EPSILON,
                    num_threads=threads)
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return manifest


def load_torch(directory, dtype=torch.float32):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    arch = manifest["arch"]
    model = BiLstm(manifest["input_size"], arch == "session")
    model.load_state_dict(torch.load(os.path.join(directory, "torch_state.pt")))
    model = model.to(dtype)
    load = lambda n: torch.from_numpy(np.load(os.path.join(directory, n + ".npy"))).to(dtype)
    x, targets, weights = load("inputs"), load("targets"), load("weights")
    lengths = torch.from_numpy(np.load(os.path.join(directory, "lengths.npy"))) if arch == "session" else None
    return manifest, model, x, targets, weights, lengths


def torch_gradients(directory, dtype):
    manifest, model, x, targets, weights, lengths = load_torch(directory, dtype)
    loss = masked_bce(model(x, lengths), targets, weights)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        if "bias_hh" in name:
            continue
        grads[our_name(name)] = p.grad.detach().double().numpy()
    return float(loss.detach()), grads


def compare(directory, driver):
    subprocess.run([driver, "grads", directory], check=True)
    with open(os.path.join(directory, "ours.json")) as f:
        our_loss = json.load(f)["loss"]
    ours = {n: np.load(os.path.join(directory, "ours.grad." + n + ".npy")).astype(np.float64)
            for n in torch_gradients(directory, torch.float32)[1]}
    torch_loss, theirs = torch_gradients(directory, torch.float32)
    truth_loss, truth = torch_gradients(directory, torch.float64)

    def rel(a, b):  # norm-wise relative difference
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    rows = []
    for name in theirs:
        rows.append(dict(name=name, shape=list(theirs[name].shape),
                         ours_vs_torch=rel(ours[name], theirs[name]),
                         ours_vs_f64=rel(ours[name], truth[name]),
                         torch_vs_f64=rel(theirs[name], truth[name]),
                         max_abs_diff_over_max_abs=float(np.max(np.abs(ours[name] - theirs[name])) /
                                                         max(np.max(np.abs(theirs[name])), 1e-30))))
    return dict(loss=dict(ours=our_loss, torch=torch_loss, torch_f64=truth_loss,
                          rel_diff=abs(our_loss - torch_loss) / abs(torch_loss)),
                gradients=rows,
                worst_ours_vs_torch=max(r["ours_vs_torch"] for r in rows))


def peak_rss_mib():
    """VmHWM: the peak resident set of this process (ru_maxrss would include the parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def torch_bench(directory, train_steps, infer_steps, warmup, threads, packed):
    torch.set_num_threads(threads)
    manifest, model, x, targets, weights, lengths = load_torch(directory)
    if not packed:
        lengths = None
    rss_before = peak_rss_mib()
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    train_seconds, infer_seconds = [], []
    for i in range(warmup + train_steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = masked_bce(model(x, lengths), targets, weights)
        loss.backward()
        opt.step()
        if i >= warmup:
            train_seconds.append(time.perf_counter() - start)
    with torch.inference_mode():
        for i in range(warmup + infer_steps):
            start = time.perf_counter()
            model(x, lengths)
            if i >= warmup:
                infer_seconds.append(time.perf_counter() - start)
    print(json.dumps(dict(train_seconds=train_seconds, infer_seconds=infer_seconds, rss_before_mib=rss_before,
                          peak_rss_mib=peak_rss_mib(),
                          threads=torch.get_num_threads())))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def throughput(directory, driver, args, arch):
    sides = {"skipper": [driver, "bench", directory, str(args.train_steps), str(args.infer_steps), str(args.warmup)]}
    me = [sys.executable, os.path.abspath(__file__), "--torch-bench", directory, "--train-steps",
          str(args.train_steps), "--infer-steps", str(args.infer_steps), "--warmup", str(args.warmup),
          "--threads", str(args.threads)]
    if arch == "session":
        sides["torch_packed"] = me + ["--packed"]
        sides["torch_padded"] = me
    else:
        sides["torch"] = me
    results = {side: dict(train_seconds=[], infer_seconds=[], peak_rss_mib=0.0, rss_before_mib=0.0) for side in sides}
    for _ in range(args.rounds):  # alternate the sides, so that both see the same machine
        for side, cmd in sides.items():
            r = run_json(cmd)
            results[side]["train_seconds"] += r["train_seconds"]
            results[side]["infer_seconds"] += r["infer_seconds"]
            results[side]["peak_rss_mib"] = max(results[side]["peak_rss_mib"], r["peak_rss_mib"])
            results[side]["rss_before_mib"] = max(results[side]["rss_before_mib"], r["rss_before_mib"])
    for side, r in results.items():
        r["train_median_s"] = statistics.median(r["train_seconds"])
        r["infer_median_s"] = statistics.median(r["infer_seconds"])
        r["train_sequences_per_s"] = BATCH / r["train_median_s"]
        r["infer_sequences_per_s"] = BATCH / r["infer_median_s"]
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--driver", default="build/bench/lstm_driver")
    p.add_argument("--session-features", type=int, default=65)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--infer-steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--arch", choices=["seed", "session", "both"], default="both")
    p.add_argument("--out")
    p.add_argument("--torch-bench", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--packed", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_bench:
        torch_bench(args.torch_bench, args.train_steps, args.infer_steps, args.warmup, args.threads, args.packed)
        return
    torch.set_num_threads(args.threads)
    report = dict(torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
                  threads=args.threads, batch=BATCH, hidden=HIDDEN, layers=LAYERS,
                  openblas_env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
                  date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cases={})
    archs = ["seed", "session"] if args.arch == "both" else [args.arch]
    with tempfile.TemporaryDirectory() as root:
        for arch in archs:
            directory = os.path.join(root, arch)
            os.makedirs(directory)
            features = 1 if arch == "seed" else args.session_features
            manifest = write_case(directory, arch, features, args.threads, seed=7)
            case = dict(manifest=manifest, numerics=compare(directory, args.driver),
                        throughput=throughput(directory, args.driver, args, arch))
            report["cases"][arch] = case
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    print_summary(report)


def print_summary(report):
    print(f"torch {report['torch']}, {report['threads']} threads, {report['date']}, "
          f"OpenBLAS env {report['openblas_env']}")
    for arch, case in report["cases"].items():
        n = case["numerics"]
        print(f"\n## {arch}: T={case['manifest']['steps']} F={case['manifest']['input_size']} B={BATCH}")
        print(f"loss: skipper {n['loss']['ours']:.8f}  torch {n['loss']['torch']:.8f}  "
              f"f64 {n['loss']['torch_f64']:.8f}  rel diff {n['loss']['rel_diff']:.2e}")
        print("| parameter | skipper vs torch | skipper vs f64 | torch vs f64 |\n|---|---|---|---|")
        for r in n["gradients"]:
            print(f"| {r['name']} | {r['ours_vs_torch']:.2e} | {r['ours_vs_f64']:.2e} | {r['torch_vs_f64']:.2e} |")
        t = case["throughput"]
        print("| side | train seq/s | infer seq/s | train step median (s) | peak RSS (MiB) | RSS before (MiB) |")
        print("|---|---|---|---|---|---|")
        for side, r in t.items():
            print(f"| {side} | {r['train_sequences_per_s']:.0f} | {r['infer_sequences_per_s']:.0f} | "
                  f"{r['train_median_s']:.4f} | {r['peak_rss_mib']:.0f} | {r['rss_before_mib']:.0f} |")
        ours = t["skipper"]
        for side, r in t.items():
            if side != "skipper":
                print(f"skipper / {side}: training {ours['train_sequences_per_s'] / r['train_sequences_per_s']:.2f}x, "
                      f"inference {ours['infer_sequences_per_s'] / r['infer_sequences_per_s']:.2f}x")


if __name__ == "__main__":
    main()
