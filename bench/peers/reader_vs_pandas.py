#!/usr/bin/env python3
"""Skipper's MSSD reader + join side by side with pyarrow and pandas.

Every side reads the same two generated files (the session log and the track
features, raw MSSD format) and joins them on track_id_clean = track_id, on the
same number of threads. What each side materializes differs, and is said:
  skipper:        data::load_mssd(log, tf) in read_driver: typed columns (i32/u8/f32),
                  text columns as dictionary codes, and the join as a row index
                  (track_row) into the track table, not a joined copy;
  pyarrow:        pyarrow.csv.read_csv of both files (Arrow tables, strings as
                  Arrow strings) and Table.join (a new joined table), with
                  pyarrow.set_cpu_count(threads) and set_io_thread_count(threads);
  pandas (pyarrow engine): pd.read_csv(engine="pyarrow") (multi-threaded parse) and merge;
  pandas (C engine):       pd.read_csv(engine="c") (the C parser is single-threaded) and merge.
Python sides are timed in this process after the imports; skipper inside the
driver after the program has started. Rounds alternate between the sides;
the figures are per-side medians. CPU seconds (user + system, all threads)
are measured beside the wall times, because on a shared machine they are the
steadier figure: the Python sides' as this process's CPU time over the call,
skipper's as the driver process's whole CPU time (its start included).

Run it with the OpenBLAS variables unset, as every comparison with a peer that
does not use OpenBLAS requires (the reader uses no BLAS, so it changes nothing):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/peers/reader_vs_pandas.py \\
      --driver build/bench/read_driver --sessions 60000
"""
import argparse
import json
import resource
import os
import platform
import statistics
import subprocess
import tempfile
import time

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv


def pandas_read_merge(log_path, tf_path, engine):
    start, cpu = time.perf_counter(), time.process_time()
    log = pd.read_csv(log_path, engine=engine)
    tf = pd.read_csv(tf_path, engine=engine)
    joined = log.merge(tf, left_on="track_id_clean", right_on="track_id")
    seconds = time.perf_counter() - start
    return seconds, time.process_time() - cpu, len(joined)


def pyarrow_read_join(log_path, tf_path):
    start, cpu = time.perf_counter(), time.process_time()
    log = pacsv.read_csv(log_path)
    tf = pacsv.read_csv(tf_path)
    read, read_cpu = time.perf_counter() - start, time.process_time() - cpu
    joined = log.join(tf, keys="track_id_clean", right_keys="track_id", join_type="inner")
    seconds = time.perf_counter() - start
    return seconds, read, time.process_time() - cpu, read_cpu, joined.num_rows


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def skipper_read_join(driver, log_path, tf_path, threads):
    cpu = children_cpu()
    out = subprocess.run([driver, "read", log_path, tf_path, "1", str(threads)], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    return result["median_s"], children_cpu() - cpu, result["rows"], result["peak_rss_kb"]


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
        pa.set_cpu_count(args.threads)
        pa.set_io_thread_count(args.threads)
        sides = {"skipper": [], "pyarrow": [], "pyarrow_read_only": [], "pandas_pyarrow_engine": [], "pandas_c_engine": []}
        cpu = {side: [] for side in sides}
        rss = 0

        def check(side, rows):
            if rows != gen["rows"]:
                raise SystemExit(f"{side} gave {rows} rows, expected {gen['rows']}")

        for _ in range(args.rounds):
            seconds, seconds_cpu, rows, rss = skipper_read_join(args.driver, log_path, tf_path, args.threads)
            check("skipper", rows)
            sides["skipper"].append(seconds)
            cpu["skipper"].append(seconds_cpu)
            seconds, read, seconds_cpu, read_cpu, rows = pyarrow_read_join(log_path, tf_path)
            check("pyarrow", rows)
            sides["pyarrow"].append(seconds)
            sides["pyarrow_read_only"].append(read)
            cpu["pyarrow"].append(seconds_cpu)
            cpu["pyarrow_read_only"].append(read_cpu)
            for engine in ("pyarrow", "c"):
                seconds, seconds_cpu, rows = pandas_read_merge(log_path, tf_path, engine)
                check("pandas " + engine, rows)
                sides[f"pandas_{engine}_engine"].append(seconds)
                cpu[f"pandas_{engine}_engine"].append(seconds_cpu)

    medians = {side: statistics.median(times) for side, times in sides.items()}
    medians_cpu = {side: statistics.median(times) for side, times in cpu.items()}
    result = {
        "rows": gen["rows"], "sessions": gen["sessions"], "tracks": gen["tracks"],
        "log_bytes": sizes[log_path], "tf_bytes": sizes[tf_path],
        "threads": args.threads, "rounds": args.rounds,
        "seconds": sides, "median_s": medians,
        "cpu_seconds": cpu, "median_cpu_s": medians_cpu,
        "skipper_peak_rss_kb": rss,
        "pandas_version": pd.__version__, "pyarrow_version": pa.__version__, "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    mb = (sizes[log_path] + sizes[tf_path]) / 1e6
    print(f"reader + join, {gen['rows']:,} log rows + {gen['tracks']:,} tracks ({mb:.0f} MB), "
          f"{args.threads} threads, medians of {args.rounds}; load average {os.getloadavg()[0]:.1f}")
    print("| side | median s | vs skipper | median CPU s | CPU vs skipper |")
    print("|---|---|---|---|---|")
    for side, seconds in medians.items():
        print(f"| {side} | {seconds:.3f} | {seconds / medians['skipper']:.2f}x | {medians_cpu[side]:.3f} | "
              f"{medians_cpu[side] / medians_cpu['skipper']:.2f}x |")
    print(f"pandas {pd.__version__}, pyarrow {pa.__version__}")

if __name__ == "__main__":
    main()
