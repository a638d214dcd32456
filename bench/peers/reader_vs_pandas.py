#!/usr/bin/env python3
"""Skipper's MSSD reader + join side by side with pandas.read_csv + merge.

Both sides read the same two generated files (the session log and the track
features, raw MSSD format) and join them on track_id_clean = track_id:
  pandas:  pd.read_csv(log), pd.read_csv(tf), log.merge(tf, left_on="track_id_clean",
           right_on="track_id")  (timed in this process, after pandas is imported);
  skipper: data::load_mssd(log, tf) in read_driver, 2 threads (timed inside the driver,
           after the program has started).
Rounds alternate between the two sides; the figures are per-side medians.

Run it with the OpenBLAS variables unset, as every comparison with a peer that
does not use OpenBLAS requires (the reader uses no BLAS, so it changes nothing):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/peers/reader_vs_pandas.py \\
      --driver build/bench/read_driver --sessions 60000
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import pandas as pd


def pandas_read_merge(log_path, tf_path):
    start = time.perf_counter()
    log = pd.read_csv(log_path)
    tf = pd.read_csv(tf_path)
    joined = log.merge(tf, left_on="track_id_clean", right_on="track_id")
    seconds = time.perf_counter() - start
    return seconds, len(joined)


def skipper_read_join(driver, log_path, tf_path, threads):
    out = subprocess.run([driver, "read", log_path, tf_path, "1", str(threads)], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    return result["median_s"], result["rows"], result["peak_rss_kb"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--driver", required=True, help="path to the built read_driver")
    parser.add_argument("--sessions", type=int, default=60000, help="generated sessions (60000 is about 1M rows)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or tmp
        gen = json.loads(subprocess.run([args.driver, "gen", directory, str(args.sessions), str(args.seed)],
                                        check=True, capture_output=True, text=True).stdout)
        log_path, tf_path = gen["log"], gen["tracks_file"]
        sizes = {p: os.path.getsize(p) for p in (log_path, tf_path)}
        ours, theirs = [], []
        rss = 0
        for _ in range(args.rounds):
            seconds, rows, rss = skipper_read_join(args.driver, log_path, tf_path, args.threads)
            ours.append(seconds)
            if rows != gen["rows"]:
                raise SystemExit(f"skipper read {rows} rows, expected {gen['rows']}")
            seconds, rows = pandas_read_merge(log_path, tf_path)
            theirs.append(seconds)
            if rows != gen["rows"]:
                raise SystemExit(f"pandas joined {rows} rows, expected {gen['rows']}")

    result = {
        "rows": gen["rows"], "sessions": gen["sessions"], "tracks": gen["tracks"],
        "log_bytes": sizes[log_path], "tf_bytes": sizes[tf_path],
        "threads": args.threads, "rounds": args.rounds,
        "skipper_s": ours, "pandas_s": theirs,
        "skipper_median_s": statistics.median(ours), "pandas_median_s": statistics.median(theirs),
        "skipper_peak_rss_kb": rss,
        "pandas_version": pd.__version__, "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    result["speedup"] = result["pandas_median_s"] / result["skipper_median_s"]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    mb = (sizes[log_path] + sizes[tf_path]) / 1e6
    print(f"| reader + join, {gen['rows']:,} log rows + {gen['tracks']:,} tracks ({mb:.0f} MB) "
          f"| skipper {result['skipper_median_s']:.3f} s | pandas {pd.__version__} {result['pandas_median_s']:.3f} s "
          f"| {result['speedup']:.2f}x |")
    print(json.dumps({k: result[k] for k in ("skipper_s", "pandas_s", "load_average")}))


if __name__ == "__main__":
    main()
