#!/usr/bin/env python3
"""The cuDNN peer of Skipper's GPU Bi-LSTM (bench/gpu_lstm_bench.cpp).

PyTorch nn.LSTM(bidirectional=True, num_layers=2, hidden_size=116) with a
Linear(232, 1) head, trained with masked BCE-with-logits and Adam (fused) on the
same shapes as Skipper: seed (T=13, F=1, one output per sequence from the last
layer's final states) and session (T=20, F=the session feature count, an
output at every step, the loss on the second half of each ragged session), at
B=1000 and B=4096, in FP32 and TF32.

Each configuration is timed with CUDA events around --steps training steps
after --warmup steps, --repeats times; the median is reported. No host
synchronisation inside the timed steps (no loss.item()): cuDNN's best case.

The session batches are right-padded and run unpacked (cuDNN's fastest path,
the same work as Skipper's masked steps); --packed also times
pack_padded_sequence, which is what a user who needs exact masking writes.

Also measures the card's matrix-product rate once (torch.matmul, 8192^3,
FP32 and TF32), the ceiling for the achieved-FLOP/s fractions.

Writes one JSON document (to --out, or stdout). `--device cpu --dry-run` runs
tiny shapes on the CPU to check the script without a GPU.
"""
import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn

HIDDEN = 116
LAYERS = 2


class BiLstm(nn.Module):
    def __init__(self, features: int, every_step: bool):
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
        # The last layer's final states: forward at t = T-1, reverse at t = 0.
        return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1)).squeeze(-1)  # [B]


def make_batch(steps, batch, features, every_step, device, generator):
    x = torch.rand(steps, batch, features, generator=generator) * 2 - 1
    if every_step:
        lengths = steps // 2 + torch.randint(0, steps - steps // 2 + 1, (batch,), generator=generator)
    else:
        lengths = torch.full((batch,), steps, dtype=torch.int64)
    t = torch.arange(steps).unsqueeze(1)
    mask = (t < lengths.unsqueeze(0)).float()
    x = x * mask.unsqueeze(-1)
    if every_step:
        targets = (torch.rand(steps, batch, generator=generator) < 0.5).float()
        weights = mask * (t >= (lengths // 2).unsqueeze(0)).float()
    else:
        targets = (torch.rand(batch, generator=generator) < 0.5).float()
        weights = torch.ones(batch)
    return x.to(device), lengths, targets.to(device), weights.to(device)


class Timer:
    """CUDA events on a GPU, the host clock (after the work) on the CPU."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def start(self):
        if self.cuda:
            self.begin = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.begin.record()
        else:
            self.t0 = time.perf_counter()

    def stop_seconds(self):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return self.begin.elapsed_time(self.end) * 1e-3
        return time.perf_counter() - self.t0


def set_tf32(enabled):
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def time_training(shape, tf32, packed, args, device):
    set_tf32(tf32)
    torch.manual_seed(42)
    generator = torch.Generator().manual_seed(7)
    model = BiLstm(shape["features"], shape["every_step"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=device.type == "cuda")
    x, lengths, targets, weights = make_batch(shape["steps"], shape["batch"], shape["features"],
                                              shape["every_step"], device, generator)
    weight_sum = weights.sum()
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(x, lengths if packed else None)
        loss = (loss_fn(logits, targets) * weights).sum() / weight_sum
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        loss = train_step()
    timer = Timer(device)
    seconds = []
    for _ in range(args.repeats):
        timer.start()
        for _ in range(args.steps):
            loss = train_step()
        seconds.append(timer.stop_seconds() / args.steps)
    step_seconds = statistics.median(seconds)
    return {
        "shape": shape["name"], "batch": shape["batch"], "steps": shape["steps"], "features": shape["features"],
        "precision": "tf32" if tf32 else "fp32", "packed": packed,
        "seconds_per_train_step": step_seconds, "seq_per_s": shape["batch"] / step_seconds,
        "all_seconds_per_train_step": seconds, "final_loss": float(loss.item()),
    }


def matmul_rate(tf32, size, repeats, device):
    set_tf32(tf32)
    a = torch.rand(size, size, device=device) - 0.5
    b = torch.rand(size, size, device=device) - 0.5
    for _ in range(3):
        torch.matmul(a, b)
    timer = Timer(device)
    seconds = []
    for _ in range(repeats):
        timer.start()
        torch.matmul(a, b)
        seconds.append(timer.stop_seconds())
    return 2.0 * size ** 3 / statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session-features", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--packed", action="store_true", help="also time pack_padded_sequence on the session shapes")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes and counts, to check the script")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("lstm_cudnn.py: no CUDA device visible to PyTorch")
    batches = [1000, 4096]
    gemm_size = 8192
    if args.dry_run:
        batches = [8]
        gemm_size = 64
        args.warmup, args.steps, args.repeats = 1, 2, 2
    shapes = []
    for batch in batches:
        shapes.append({"name": "seed", "steps": 13, "batch": batch, "features": 1, "every_step": False})
        shapes.append({"name": "session", "steps": 20, "batch": batch, "features": args.session_features,
                       "every_step": True})

    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "matmul_flops_per_s": {"fp32": matmul_rate(False, gemm_size, 10, device),
                               "tf32": matmul_rate(True, gemm_size, 10, device)},
        "runs": [],
    }
    for shape in shapes:
        for tf32 in (False, True):
            report["runs"].append(time_training(shape, tf32, False, args, device))
            if args.packed and shape["every_step"]:
                report["runs"].append(time_training(shape, tf32, True, args, device))
    set_tf32(False)
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
