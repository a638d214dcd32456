#!/usr/bin/env python3
"""The original analysis's recipe at scale: pandas reads every log file and the
track files whole, concatenates and merges them, builds the 13 seed features
(label-encoded text columns, the leak included, as the analysis did), splits
80/20 at random and trains LightGBM (learning_rate 0.09, max_depth 5,
num_leaves 31, 100 trees). Prints one JSON line: phase times, rows, test AUC
and the peak RSS of the process (getrusage ru_maxrss).

Usage: recipe_pandas_lightgbm.py --data DIR [--threads 2] [--engine c|pyarrow]
DIR holds training_set/log_*.csv and track_features/tf_*.csv (the MSSD layout).
"""
import argparse
import glob
import json
import os
import resource
import time


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engine", default="c", choices=["c", "pyarrow"])
    args = ap.parse_args()

    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    times = {}
    start = time.perf_counter()
    logs = sorted(glob.glob(os.path.join(args.data, "training_set", "log_*.csv")))
    tracks = sorted(glob.glob(os.path.join(args.data, "track_features", "tf_*.csv")))
    log = pd.concat([pd.read_csv(p, engine=args.engine) for p in logs], ignore_index=True)
    tf = pd.concat([pd.read_csv(p, engine=args.engine) for p in tracks], ignore_index=True)
    times["read_s"] = time.perf_counter() - start

    t = time.perf_counter()
    df = log.merge(tf, left_on="track_id_clean", right_on="track_id", how="left")
    del log, tf
    times["merge_s"] = time.perf_counter() - t

    t = time.perf_counter()
    X = pd.DataFrame({
        "context_switch": df["context_switch"].astype(np.int8),
        "is_paused_before_play": (~df["no_pause_before_play"].astype(bool)).astype(np.int8),
        "hist_user_behavior_is_shuffle": df["hist_user_behavior_is_shuffle"].astype(np.int8),
        "hist_user_behavior_n_seekfwd": df["hist_user_behavior_n_seekfwd"],
        "hist_user_behavior_n_seekback": df["hist_user_behavior_n_seekback"],
        "released_from": 2022 - df["release_year"],
        "premium": df["premium"].astype(np.int8),
        "session_length": df["session_length"],
        "session_position": df["session_position"],
        "hist_user_behavior_reason_start": df["hist_user_behavior_reason_start"].astype("category").cat.codes,
        "hist_user_behavior_reason_end": df["hist_user_behavior_reason_end"].astype("category").cat.codes,
        "hour_of_day": df["hour_of_day"],
        "context_type": df["context_type"].astype("category").cat.codes,
    })
    y = (~df["not_skipped"].astype(bool)).astype(np.int8).to_numpy()
    del df
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    times["features_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model = lgb.LGBMClassifier(learning_rate=0.09, max_depth=5, num_leaves=31, n_estimators=100, max_bin=255,
                               n_jobs=args.threads, verbose=-1)
    model.fit(X_train, y_train, categorical_feature=["hist_user_behavior_reason_start",
                                                     "hist_user_behavior_reason_end", "context_type"])
    times["train_s"] = time.perf_counter() - t
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    times["total_s"] = time.perf_counter() - start
    print(json.dumps({"rows": int(len(y)), "train_rows": int(len(y_train)), "test_auc": round(float(auc), 4),
                      "peak_rss_mb": round(peak_rss_mb(), 1), "lightgbm": lgb.__version__, "pandas": pd.__version__,
                      "engine": args.engine, "threads": args.threads,
                      **{k: round(v, 2) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
