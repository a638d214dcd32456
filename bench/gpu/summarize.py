#!/usr/bin/env python3
"""The side-by-side table that bench/gpu/check.sh prints last.

usage: summarize.py SKIPPER_BENCH_JSON CUDNN_JSON TESTS_STATUS SANITIZER_STATUS

Reads Google Benchmark's JSON from bench/gpu_lstm_bench (medians of its
repetitions) and bench/peers/lstm_cudnn.py's JSON; either may be missing or
broken (a failed phase), and the table shows what is there.
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def medians(skipper, prefix):
    out = {}
    for b in (skipper or {}).get("benchmarks", []):
        if b.get("aggregate_name") == "median" and b["name"].startswith(prefix) and not b.get("error_occurred"):
            out[b["name"][len(prefix):].split("/")[0]] = b
    return out


def main():
    skipper, peer = load(sys.argv[1]), load(sys.argv[2])
    tests_status, sanitizer_status = int(sys.argv[3]), int(sys.argv[4])
    train = medians(skipper, "BM_lstm_train_cuda/")
    step = medians(skipper, "BM_lstm_step_cuda/")
    peer_runs = {}
    rate = {}
    if peer:
        rate = peer["matmul_flops_per_s"]
        for run in peer["runs"]:
            if not run["packed"]:
                peer_runs[f"{run['shape']}_b{run['batch']}_{run['precision']}"] = run
        print(f"card: {peer['device']}; torch {peer['torch']}, cuDNN {peer['cudnn']}; sgemm 8192^3: "
              f"fp32 {rate['fp32'] / 1e12:.1f} TFLOP/s, tf32 {rate['tf32'] / 1e12:.1f} TFLOP/s")
        print("cuDNN column: unpacked padded batches (its fastest path); packed figures in cudnn.json")
    else:
        print("cuDNN peer: no results (see cudnn.txt)")

    # skipper: op by op; +graph: the step replayed as one CUDA graph; +persist: and
    # the forward recurrence in the persistent small-H kernel. ratio: the best
    # Skipper column over cuDNN.
    header = ("shape", "prec", "skipper seq/s", "+graph", "+persist", "cudnn seq/s", "ratio", "skipper us/step",
              "skipper %peak", "cudnn %peak")
    rows = []
    for shape in ("seed", "session"):
        for batch in (1000, 4096):
            for precision in ("fp32", "tf32"):
                key = f"{shape}_b{batch}_{precision}"
                ours, theirs = train.get(key), peer_runs.get(key)
                graphed, persistent = train.get(key + "_graph"), train.get(key + "_graph_persist")
                best = max((r for r in (ours, graphed, persistent) if r), key=lambda r: r["seq_per_s"], default=None)
                fwd = step.get(f"forward_b{batch}_t20_{precision}")
                bwd = step.get(f"backward_b{batch}_t20_{precision}")
                per_step = f"{fwd['us_per_step']:.1f}+{bwd['us_per_step']:.1f}" if fwd and bwd else "-"
                ceiling = rate.get(precision)
                flops = ours["GFLOP_per_train_step"] * 1e9 if ours else None

                def peak_share(seq_per_s):
                    if flops is None or not ceiling:
                        return "-"
                    return f"{100 * flops * seq_per_s / batch / ceiling:.1f}"

                rows.append((f"{shape}_b{batch}", precision,
                             f"{ours['seq_per_s']:,.0f}" if ours else "-",
                             f"{graphed['seq_per_s']:,.0f}" if graphed else "-",
                             f"{persistent['seq_per_s']:,.0f}" if persistent else "-",
                             f"{theirs['seq_per_s']:,.0f}" if theirs else "-",
                             f"{best['seq_per_s'] / theirs['seq_per_s']:.2f}" if best and theirs else "-",
                             per_step,
                             peak_share(best["seq_per_s"]) if best else "-",
                             peak_share(theirs["seq_per_s"]) if theirs else "-"))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    print("us/step: one direction's recurrent step (product with W_hh + fused cell), T=20, forward+backward; "
          "%peak: matrix-product FLOP/s over the card's sgemm rate")

    # The forward recurrence alone, one direction, H=116, T=20: the standard
    # algorithm (cuBLAS product + cell kernel per step) against the persistent
    # small-H kernel (one launch, W_hh in cluster shared memory).
    recurrent = medians(skipper, "BM_lstm_recurrent_cuda/")
    print()
    print("forward recurrence, one direction, T=20 (us per step):")
    for batch in (1000, 4096):
        cells = []
        for key in (f"standard_b{batch}_t20_fp32", f"standard_b{batch}_t20_tf32", f"persist_small_h_b{batch}_t20_fp32"):
            run = recurrent.get(key)
            cells.append(f"{key.split('_b')[0]} {key[-4:]} " + (f"{run['us_per_step']:.2f}" if run else "-"))
        standard, persistent = recurrent.get(f"standard_b{batch}_t20_fp32"), recurrent.get(f"persist_small_h_b{batch}_t20_fp32")
        ratio = f"{standard['us_per_step'] / persistent['us_per_step']:.2f}x" if standard and persistent else "-"
        print(f"  B={batch}: " + "; ".join(cells) + f"; persistent speed-up over standard fp32: {ratio}")
    status = {0: "clean", 2: "not run (compute-sanitizer missing)",
              3: "not run (compute-sanitizer refuses the device on this runtime)"}
    print("CUDA tests: " + ("passed" if tests_status == 0 else f"FAILED (status {tests_status}, see ctest.log)") +
          "; memcheck + racecheck: " +
          status.get(sanitizer_status, f"FAILED (status {sanitizer_status}, see memcheck.log, racecheck.log)"))


if __name__ == "__main__":
    main()
