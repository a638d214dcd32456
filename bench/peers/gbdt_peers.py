#!/usr/bin/env python3
"""Side by side: Skipper's GBDT vs LightGBM and XGBoost (hist) on the same data.

One run does, for each task:
  1. bench/peers/gbdt_driver export: the synthetic MSSD generator builds the
     task's rows in memory and writes train/test matrices as .npy;
  2. every side trains on those same .npy matrices with the same parameters and
     threads, each run in its own process, sides interleaved run by run;
  3. this script scores every side's test predictions with the same code.

Training time is each side's own timer around dataset construction (binning)
plus boosting, excluding the .npy load. Time per phase: Skipper reports bins,
gradients (with bagging draws), histograms (the root's and the subtractions),
partition (each partition with its built child's histogram, one pass), splits,
scores and metrics; LightGBM's Python API exposes bins (Dataset construction)
and boosting. Peak memory is the maximum resident set of the whole process
(os.wait4's ru_maxrss), reported as is and minus the side's baseline: the same
process with its libraries loaded and no data (the Python peers: the
interpreter with numpy and the library imported; Skipper: `gbdt_driver
baseline`).

Sides: skipper (float histograms), skipper_quantized (use_quantized_grad),
lightgbm, xgboost; --sides picks some.

Usage: gbdt_peers.py --driver BUILD/bench/gbdt_driver [--tasks seed,seed_noleak,session]
                     [--sides skipper,skipper_quantized,lightgbm,xgboost]
                     [--repeats 3] [--threads 2] [--work DIR] [--markdown FILE]
                     [--scale X] [--mssd MSSD_DIR] [--reuse-data]
--scale multiplies the generated sessions (10 for the 10M-row points); --mssd
builds the tasks from a real-layout MSSD folder instead of the generator;
--reuse-data keeps a task's exported matrices when WORK/TASK/meta.json exists.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

TASK_SESSIONS = {"seed": 65000, "seed_noleak": 65000, "session": 135000}


def task_params(task):
    """LightGBM names. The seed task is the original analysis's setting; the
    session task uses LightGBM's defaults."""
    if task.startswith("seed"):
        return dict(learning_rate=0.09, max_depth=5, num_leaves=31, num_iterations=100, max_bin=255)
    return dict(learning_rate=0.1, max_depth=-1, num_leaves=31, num_iterations=100, max_bin=255)


# ---- metrics, one implementation for every side ----

def roc_auc(y, p):
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    # average ranks over ties (Mann-Whitney)
    boundaries = np.flatnonzero(np.diff(sorted_p)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(p)]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    pos = y.sum()
    neg = len(y) - pos
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def log_loss(y, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def session_scores(session, position, y, p):
    """Mean AA and first-prediction accuracy (WSDM Cup 2019)."""
    order = np.lexsort((position, session))
    s, correct = session[order], ((p[order] >= 0.5) == (y[order] == 1))
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    ends = np.concatenate((starts[1:], [len(s)]))
    aa, first = [], []
    for a, b in zip(starts, ends):
        c = correct[a:b].astype(float)
        acc = np.cumsum(c) / np.arange(1, len(c) + 1)
        aa.append(float(np.sum(acc * c) / len(c)))
        first.append(c[0])
    return float(np.mean(aa)), float(np.mean(first))


# ---- peers, each run in a child process of this script ----

def run_peer(side, data, params, threads, predictions):
    meta = json.load(open(os.path.join(data, "meta.json")))
    categorical = [i for i, c in enumerate(meta["categorical"]) if c]
    X = np.load(os.path.join(data, "train_X.npy"))
    y = np.load(os.path.join(data, "train_y.npy"))
    phases = {}
    if side == "lightgbm":
        import lightgbm as lgb
        p = dict(objective="binary", num_threads=threads, verbose=-1, seed=0, **params)
        rounds = p.pop("num_iterations")
        start = time.perf_counter()
        dataset = lgb.Dataset(X, y, categorical_feature=categorical, params=p).construct()
        del X  # the float matrix let go once binned (free_raw_data drops LightGBM's own reference)
        phases["bins"] = time.perf_counter() - start
        booster = lgb.train(p, dataset, rounds)
        seconds = time.perf_counter() - start
        phases["boosting"] = seconds - phases["bins"]
        prob = booster.predict(np.load(os.path.join(data, "test_X.npy")), num_threads=threads)
        version = lgb.__version__
    else:
        import xgboost as xgb
        types = ["c" if c else "q" for c in meta["categorical"]]
        p = {"objective": "binary:logistic", "tree_method": "hist", "grow_policy": "lossguide",
             "max_leaves": params["num_leaves"], "max_depth": max(params["max_depth"], 0),
             "eta": params["learning_rate"], "max_bin": params["max_bin"], "nthread": threads,
             # LightGBM's defaults for what both have: no L2 penalty, hessian floor 1e-3.
             "reg_lambda": 0.0, "min_child_weight": 1e-3, "max_cat_to_onehot": 4, "seed": 0}
        start = time.perf_counter()
        dtrain = xgb.QuantileDMatrix(X, y, feature_types=types, enable_categorical=True, nthread=threads,
                                     max_bin=params["max_bin"])
        del X
        booster = xgb.train(p, dtrain, params["num_iterations"])
        seconds = time.perf_counter() - start
        Xt = np.load(os.path.join(data, "test_X.npy"))
        prob = booster.predict(xgb.DMatrix(Xt, feature_types=types, enable_categorical=True, nthread=threads))
        version = xgb.__version__
    np.save(predictions, np.asarray(prob, dtype=np.float64))
    print(json.dumps({"side": side, "train_seconds": seconds, "version": version, "phase_seconds": phases}))


def run_baseline(side):
    """The peer's process before any data: interpreter, numpy and the library."""
    if side == "lightgbm":
        import lightgbm as lgb
        version = lgb.__version__
    else:
        import xgboost as xgb
        version = xgb.__version__
    print(json.dumps({"side": side, "version": version}))


def child_env():
    env = dict(os.environ)
    # LightGBM and XGBoost do not use OpenBLAS; Skipper gets its fast kernels
    # with these unset (DESIGN section 3).
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


def measured(cmd):
    """Runs cmd; returns (its JSON line, peak RSS in MiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()}")
    line = [l for l in out.decode().splitlines() if l.startswith("{")][-1]
    return json.loads(line), usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver")
    ap.add_argument("--tasks", default="seed,seed_noleak,session")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/skipper_gbdt_peers")
    ap.add_argument("--markdown")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the session counts (smoke tests)")
    ap.add_argument("--sides", default="skipper,skipper_quantized,lightgbm,xgboost")
    ap.add_argument("--mssd", help="build the tasks from this MSSD folder (training_set, track_features)")
    ap.add_argument("--reuse-data", action="store_true", help="keep WORK/TASK's matrices when its meta.json exists")
    ap.add_argument("--run-peer", choices=["lightgbm", "xgboost"], help=argparse.SUPPRESS)
    ap.add_argument("--baseline", choices=["lightgbm", "xgboost"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--predictions", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_peer:
        run_peer(args.run_peer, args.data, json.loads(args.params), args.threads, args.predictions)
        return
    if args.baseline:
        run_baseline(args.baseline)
        return
    if not args.driver:
        ap.error("--driver is required")

    sides = args.sides.split(",")
    baseline_rss = {}
    for side in sides:
        if side.startswith("skipper"):
            cmd = [args.driver, "baseline"]
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--baseline", side]
        baseline_rss[side] = measured(cmd)[1]

    lines = []
    for task in args.tasks.split(","):
        data = os.path.join(args.work, task)
        os.makedirs(data, exist_ok=True)
        meta_path = os.path.join(data, "meta.json")
        if not (args.reuse_data and os.path.exists(meta_path)):
            export = [args.driver, "export", "--task", task, "--sessions", str(int(TASK_SESSIONS[task] * args.scale)),
                      "--seed", "42", "--out", data]
            measured(export + (["--mssd", args.mssd] if args.mssd else []))
        meta = json.load(open(meta_path))
        exported = {"train_rows": meta["train_rows"], "test_rows": meta["test_rows"]}
        params = task_params(task)
        yt = np.load(os.path.join(data, "test_y.npy")).astype(np.float64)
        runs = {side: [] for side in sides}
        versions = {"skipper": "this tree", "skipper_quantized": "this tree"}
        phase_runs = {side: [] for side in sides}
        predictions = {}
        for _ in range(args.repeats):
            for side in runs:
                pred = os.path.join(data, f"pred_{side}.npy")
                if side.startswith("skipper"):
                    cmd = [args.driver, "train", "--data", data, "--predictions", pred,
                           f"num_threads={args.threads}"] + [f"{k}={v}" for k, v in params.items()]
                    if side == "skipper_quantized":
                        cmd.append("use_quantized_grad=true")
                else:
                    cmd = [sys.executable, os.path.abspath(__file__), "--run-peer", side, "--data", data,
                           "--params", json.dumps(params), "--threads", str(args.threads), "--predictions", pred]
                result, rss = measured(cmd)
                versions[side] = result.get("version", versions.get(side))
                runs[side].append((result["train_seconds"], rss))
                phase_runs[side].append(result.get("phase_seconds", {}))
                predictions[side] = np.load(pred)
        header = (f"### {task}: {exported['train_rows']} train rows, {exported['test_rows']} test rows, "
                  f"{len(meta['feature_names'])} features, params {params}, {args.threads} threads, "
                  f"median of {args.repeats} runs")
        table = ["| side | version | train s (median) | runs | peak RSS MiB (median) | RSS - baseline MiB | test AUC | log loss | accuracy"
                 + (" | AA | first acc" if task == "session" else "") + " | time vs LightGBM | RSS - baseline vs LightGBM | AUC - LightGBM's |",
                 "|---|---|---|---|---|---|---|---|---" + ("|---|---" if task == "session" else "") + "|---|---|---|"]
        reference = "lightgbm" if "lightgbm" in runs else sides[0]
        lgb_time = statistics.median(t for t, _ in runs[reference])
        lgb_net = statistics.median(r for _, r in runs[reference]) - baseline_rss[reference]
        lgb_auc = roc_auc(yt, predictions[reference])
        for side, values in runs.items():
            p = predictions[side]
            t = statistics.median(v[0] for v in values)
            rss = statistics.median(v[1] for v in values)
            net = rss - baseline_rss[side]
            auc = roc_auc(yt, p)
            row = (f"| {side} | {versions[side]} | {t:.2f} | {', '.join(f'{v[0]:.2f}' for v in values)} | {rss:.0f} | "
                   f"{net:.0f} | {auc:.4f} | {log_loss(yt, p):.4f} | {np.mean((p >= 0.5) == (yt == 1)):.4f}")
            if task == "session":
                session = np.load(os.path.join(data, "test_session.npy"))
                position = np.load(os.path.join(data, "test_position.npy"))
                aa, first = session_scores(session, position, yt, p)
                row += f" | {aa:.4f} | {first:.4f}"
            row += f" | {t / lgb_time:.2f}x | {net / lgb_net:.2f}x | {auc - lgb_auc:+.4f} |"
            table.append(row)
        if task == "session":
            session = np.load(os.path.join(data, "test_session.npy"))
            position = np.load(os.path.join(data, "test_position.npy"))
            baseline = np.load(os.path.join(data, "test_baseline.npy")).astype(np.float64)
            aa, first = session_scores(session, position, yt, baseline)
            table.append(f"| repeat-last baseline | - | - | - | - | - | - | - | "
                         f"{np.mean((baseline >= 0.5) == (yt == 1)):.4f} | {aa:.4f} | {first:.4f} | - | - | - |")
        phase_names = []
        for side in sides:
            for phases in phase_runs[side]:
                for name in phases:
                    if name not in phase_names:
                        phase_names.append(name)
        phase_table = ["| side | " + " | ".join(f"{n} s" for n in phase_names) + " |",
                       "|---|" + "---|" * len(phase_names)]
        for side in sides:
            cells = []
            for name in phase_names:
                values = [ph[name] for ph in phase_runs[side] if name in ph]
                cells.append(f"{statistics.median(values):.3f}" if values else "-")
            phase_table.append(f"| {side} | " + " | ".join(cells) + " |")
        baselines = ", ".join(f"{side} {baseline_rss[side]:.0f} MiB" for side in sides)
        block = "\n".join([header, ""] + table + ["", f"Time per phase (median of {args.repeats}):", ""] + phase_table
                          + ["", f"Baseline peak RSS (no data): {baselines}", ""])
        print(block, flush=True)
        lines.append(block)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write("\n".join(lines))


if __name__ == "__main__":
    main()
