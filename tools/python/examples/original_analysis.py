"""The original MSSD notebook (pandas, LightGBM, Keras), redone with Skipper.

1. Load the session logs joined with the track features and build the 13
   features of the original analysis (label: is_skipped).
2. Train the GBDT with learning rate 0.09 and depth 5 and the Bi-LSTM (the
   Keras model: Bidirectional(LSTM(116)) x2 -> Dense(1, sigmoid)) on a random
   80/20 row split, as the notebook did. The Bi-LSTM's batch is 256 rather
   than the notebook's 1000, so that a short run still takes enough Adam
   steps to learn (as `skipper run` does).
3. Show the leak: hist_user_behavior_reason_end is written when the track
   ends, so it almost decides the label. Train again without it.
4. The session task (WSDM Cup 2019): predict skip_2 for the second half of
   each session, split by session, scored by mean Average Accuracy, against
   the repeat-last baseline.

By default it runs on a small generated sample (1,000 sessions, about 17,000
rows; a few minutes on 2 cores, most of it the two seed-task Bi-LSTMs at the
original width 116); --sessions N generates a bigger one, --data DIR reads real MSSD files (one log*.csv and one
tf*.csv). The generated sample is synthetic: its figures show the method, not
Spotify's data.

    python tools/python/examples/original_analysis.py [--sessions 20000] [--data DIR]
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

import skipper

LEAK = "hist_user_behavior_reason_end"


def held_out(count, seed=42):
    return skipper.split_indices(count, 0.2, seed)


def row_scores(y, p):
    return accuracy_score(y, p >= 0.5), roc_auc_score(y, p)


def timed(fit):
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def seed_task(source, with_leak, lstm_epochs, lstm_params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = skipper.read_mssd(task="seed", with_leak=with_leak, **source)
    for warning in caught:
        print(f"  warning: {warning.message}")
    train, test = held_out(len(data.target))
    X, y = data.data, data.target
    fit_args = dict(feature_name=data.feature_names, categorical_feature=data.categorical_feature)
    gbdt, gbdt_s = timed(lambda: skipper.GBDTClassifier(learning_rate=0.09, max_depth=5)
                         .fit(X[train], y[train], **fit_args))
    lstm, lstm_s = timed(lambda: skipper.LSTMClassifier(epochs=lstm_epochs, batch_size=256, **lstm_params)
                         .fit(X[train], y[train], **fit_args))
    label = "with the leak" if with_leak else f"without {LEAK}"
    print(f"\nseed task ({len(data.feature_names)} features, {label}): {len(train)} training rows, "
          f"{len(test)} held out")
    for name, model, seconds in (("GBDT (lr 0.09, depth 5)", gbdt, gbdt_s), ("Bi-LSTM (Keras arch)", lstm, lstm_s)):
        accuracy, auc = row_scores(y[test], model.predict_proba(X[test])[:, 1])
        print(f"  {name:26s} accuracy {accuracy:.4f}  AUC {auc:.4f}  ({seconds:.1f}s)")
    if with_leak:
        gain = dict(zip(data.feature_names, skipper.GBDTClassifier(learning_rate=0.09, max_depth=5,
                                                                   importance_type="gain")
                        .fit(X[train], y[train], **fit_args).feature_importances_))
        share = gain[LEAK] / sum(gain.values())
        print(f"  {LEAK} carries {100 * share:.0f}% of the GBDT's split gain: it is written when the track ends")
    print(f"  share of skipped tracks (always guessing 'skipped' scores this): {y[test].mean():.4f}")


def session_task(source, lstm_epochs, lstm_params):
    rows = skipper.read_mssd(task="session", **source)
    seq = skipper.read_mssd(task="session", form="sequences", **source)
    train_sessions, test_sessions = held_out(len(seq.lengths))
    train = np.isin(rows.session_index, train_sessions)
    test = ~train
    scores = lambda p: skipper.metrics.session_scores(rows.target[test], p, session_index=rows.session_index[test],
                                                      position=rows.position[test])
    print(f"\nsession task (skip_2 of each session's second half): {len(train_sessions)} training sessions, "
          f"{len(test_sessions)} held out")
    baseline = scores(skipper.metrics.repeat_last_predictions(rows.data[test], rows.feature_names))
    print(f"  {'repeat-last baseline':26s} AA {baseline['average_accuracy']:.4f}  "
          f"first {baseline['first_prediction_accuracy']:.4f}")
    gbdt, seconds = timed(lambda: skipper.GBDTClassifier(learning_rate=0.09, max_depth=5).fit(
        rows.data[train], rows.target[train], feature_name=rows.feature_names,
        categorical_feature=rows.categorical_feature))
    result = scores(gbdt.predict_proba(rows.data[test])[:, 1])
    print(f"  {'GBDT on history aggregates':26s} AA {result['average_accuracy']:.4f}  "
          f"first {result['first_prediction_accuracy']:.4f}  ({seconds:.1f}s)")
    s_train, s_test = train_sessions, test_sessions
    lstm, seconds = timed(lambda: skipper.LSTMClassifier(epochs=lstm_epochs, batch_size=64, **lstm_params).fit(
        seq.data[s_train], seq.target[s_train], mask=seq.predict_mask[s_train], step_mask=seq.step_mask[s_train],
        feature_name=seq.feature_names))
    p = lstm.predict_proba(seq.data[s_test], step_mask=seq.step_mask[s_test])[..., 1]
    result = skipper.metrics.session_scores(seq.target[s_test], p, mask=seq.predict_mask[s_test])
    print(f"  {'Bi-LSTM over the session':26s} AA {result['average_accuracy']:.4f}  "
          f"first {result['first_prediction_accuracy']:.4f}  ({seconds:.1f}s)")
    print("  (real data: random 0.34 AA, repeat-last 0.537, the 2019 winner 0.651)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a folder with one log*.csv and one tf*.csv (default: a generated sample)")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions in the generated sample")
    parser.add_argument("--seed-epochs", type=int, default=2, help="epochs of the seed-task Bi-LSTM")
    parser.add_argument("--session-epochs", type=int, default=4, help="epochs of the session-task Bi-LSTM")
    parser.add_argument("--hidden-size", type=int, default=116, help="units per LSTM direction (Keras: 116)")
    args = parser.parse_args()
    source = {"path": args.data} if args.data else {"sessions": args.sessions}
    print(f"skipper {skipper.__version__}; data: {args.data or f'generated sample of {args.sessions} sessions'}")
    lstm = {"hidden_size": args.hidden_size}
    seed_task(source, True, args.seed_epochs, lstm)
    seed_task(source, False, args.seed_epochs, lstm)
    session_task(source, args.session_epochs, lstm)
    print(f"\nThe near-perfect seed-task accuracy with {LEAK} is the leak; the figures without it, and the session "
          "task's, are the honest ones.")


if __name__ == "__main__":
    main()
