"""How much is a track's identity worth on the session task? (issue 15)

A LightGBM user's check, on a generated MSSD folder (skipper gen): one row
per position to predict, with the track's features, the position and the
history's skip rate and last skip, with and without an out-of-fold per-track
skip rate (target encoding: 5 folds of the training sessions, smoothed towards
the overall rate with `--smoothing` pseudo-plays; the test rows use every
training session). Both models train on the same 80% of the sessions and are
scored on the other 20% by mean average accuracy (AA) and first-prediction
accuracy. The difference is what track identity adds to these features.

    python3 bench/track_identity_value.py DIR [--smoothing 20] [--threads 1]
"""
import argparse

import lightgbm as lgb
import numpy as np
import pandas as pd


def average_accuracy(frame, prob):
    """Mean over sessions of the AA of the WSDM Cup 2019, and first-prediction accuracy."""
    f = frame[["session_id", "session_position", "skip_2"]].copy()
    f["correct"] = ((prob > 0.5) == f["skip_2"].to_numpy()).astype(float)
    f = f.sort_values(["session_id", "session_position"])
    f["k"] = f.groupby("session_id").cumcount() + 1
    f["hits"] = f.groupby("session_id")["correct"].cumsum()
    f["term"] = f["hits"] / f["k"] * f["correct"]
    per_session = f.groupby("session_id").agg(aa=("term", "sum"), n=("k", "max"))
    first = f[f["k"] == 1]["correct"].mean()
    return (per_session["aa"] / per_session["n"]).mean(), first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--smoothing", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    log = pd.read_csv(f"{args.data}/log_0.csv", usecols=["session_id", "session_position", "session_length",
                                                          "track_id_clean", "skip_2"])
    tracks = pd.read_csv(f"{args.data}/tf_0.csv")
    tracks["mode"] = (tracks["mode"] == "major").astype(int)
    log["skip_2"] = (log["skip_2"].astype(str).str.lower() == "true").astype(int)
    log["history"] = log["session_position"] <= log["session_length"] // 2
    hist = log[log["history"]].sort_values(["session_id", "session_position"])
    per_session = hist.groupby("session_id").agg(history_rate=("skip_2", "mean"), last_skip=("skip_2", "last"))
    rows = log[~log["history"]].merge(per_session, on="session_id").merge(
        tracks, left_on="track_id_clean", right_on="track_id")
    sessions = np.sort(log["session_id"].unique())
    rng = np.random.default_rng(42)
    test_sessions = set(rng.choice(sessions, size=len(sessions) // 5, replace=False))
    is_test_session = log["session_id"].isin(test_sessions)
    rows["test"] = rows["session_id"].isin(test_sessions)

    # Out-of-fold track skip rate over every position of the training sessions.
    train_log = log[~is_test_session].copy()
    prior = train_log["skip_2"].mean()
    fold_of = {s: i % 5 for i, s in enumerate(rng.permutation(train_log["session_id"].unique()))}
    train_log["fold"] = train_log["session_id"].map(fold_of)
    rows["fold"] = rows["session_id"].map(fold_of).fillna(-1).astype(int)
    rows["track_rate"] = np.nan

    def encode(source, target_mask):
        stats = source.groupby("track_id_clean")["skip_2"].agg(["sum", "count"])
        rate = (stats["sum"] + args.smoothing * prior) / (stats["count"] + args.smoothing)
        ids = rows.loc[target_mask, "track_id_clean"]
        rows.loc[target_mask, "track_rate"] = ids.map(rate).fillna(prior).to_numpy()

    for k in range(5):
        encode(train_log[train_log["fold"] != k], (rows["fold"] == k) & ~rows["test"])
    encode(train_log, rows["test"])

    base = [c for c in tracks.columns if c != "track_id"] + ["session_position", "session_length", "history_rate",
                                                               "last_skip"]
    train, test = rows[~rows["test"]], rows[rows["test"]]
    params = {"objective": "binary", "learning_rate": 0.09, "max_depth": 5, "num_leaves": 31, "verbose": -1,
              "num_threads": args.threads, "seed": 0}
    for name, features in (("without track identity", base), ("with OOF track skip rate", base + ["track_rate"])):
        model = lgb.train(params, lgb.Dataset(train[features], train["skip_2"]), num_boost_round=100)
        aa, first = average_accuracy(test, model.predict(test[features]))
        print(f"{name:28s} AA {aa:.4f}  first {first:.4f}")


if __name__ == "__main__":
    main()
