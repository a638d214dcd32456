"""Training through Python against training through the command line, side by side.

Same data (the seed task of one MSSD folder), same 80/20 split (the command
line's), same parameters and thread count, the same validation set scored
every iteration. Each side reports the seconds of train_gbdt alone: the
command line its metrics_out "training.seconds", Python the wall time of
GBDTClassifier.fit (its input checks included). Runs alternate, CLI first;
the medians and their ratio are printed, with each process's total wall time.

    python tools/python/benchmarks/fit_vs_cli.py --cli build/tools/skipper --data DIR [--runs 3] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON_SIDE = r"""
import json, sys, time, warnings
start = time.perf_counter()
import skipper
data_dir, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    data = skipper.read_mssd(data_dir, task="seed")
train, test = skipper.split_indices(len(data.target), 0.2, 42)
X, y = data.data, data.target
model = skipper.GBDTClassifier(learning_rate=0.09, max_depth=5, n_jobs=threads)
fit_start = time.perf_counter()
model.fit(X[train], y[train], eval_set=(X[test], y[test]), feature_name=data.feature_names,
          categorical_feature=data.categorical_feature)
fit_seconds = time.perf_counter() - fit_start
model.save_model(out)
json.dump({"fit_seconds": fit_seconds, "total_seconds": time.perf_counter() - start,
           "valid_logloss": model.evals_result_["valid"]["binary_logloss"][-1]}, sys.stdout)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cli_fit, cli_total, py_fit, py_total = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            metrics = os.path.join(tmp, "cli.json")
            start = time.perf_counter()
            subprocess.run([args.cli, "train", "gbdt", "task=seed", f"data={args.data}", "learning_rate=0.09",
                            "max_depth=5", f"num_threads={args.threads}", f"output_model={tmp}/cli.bin",
                            f"metrics_out={metrics}"], check=True, capture_output=True)
            cli_total.append(time.perf_counter() - start)
            with open(metrics) as handle:
                document = json.load(handle)
            cli_fit.append(document["training"]["seconds"])
            cli_loss = document["training"]["records"][-1]["valid_binary_logloss"]
            result = subprocess.run([sys.executable, "-c", PYTHON_SIDE, args.data, str(args.threads),
                                     f"{tmp}/py.bin"], check=True, capture_output=True, text=True)
            python = json.loads(result.stdout)
            py_fit.append(python["fit_seconds"])
            py_total.append(python["total_seconds"])
            same = abs(python["valid_logloss"] - cli_loss) <= 1e-12
            print(f"run {run + 1}: cli train {cli_fit[-1]:.3f}s (process {cli_total[-1]:.2f}s), "
                  f"python fit {py_fit[-1]:.3f}s (process {py_total[-1]:.2f}s), same model: {same}", flush=True)
            if not same:
                sys.exit(f"the two sides trained different models: valid logloss {cli_loss} vs {python['valid_logloss']}")
    cli, py = statistics.median(cli_fit), statistics.median(py_fit)
    print(f"median training: cli {cli:.3f}s, python {py:.3f}s, python/cli {py / cli:.4f}")
    print(f"median process: cli {statistics.median(cli_total):.2f}s, python {statistics.median(py_total):.2f}s")


if __name__ == "__main__":
    main()
