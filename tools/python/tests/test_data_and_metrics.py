"""read_mssd and skipper.metrics against plain Python references."""
import numpy as np
import pytest

import skipper


def test_seed_task_features(seed_rows):
    assert seed_rows.data.shape == (len(seed_rows.target), 13) and seed_rows.data.dtype == np.float32
    assert seed_rows.data.flags.c_contiguous
    assert seed_rows.feature_names[10] == "hist_user_behavior_reason_end"
    assert set(np.unique(seed_rows.target)) == {0.0, 1.0}
    names = [seed_rows.feature_names[j] for j in seed_rows.categorical_feature]
    assert names == ["hist_user_behavior_reason_start", "hist_user_behavior_reason_end", "context_type"]


def test_without_the_leak_and_as_frame():
    X, y = skipper.read_mssd(sessions=200, with_leak=False, as_frame=True, return_X_y=True)
    assert X.shape[1] == 12 and "hist_user_behavior_reason_end" not in X.columns
    assert str(X["context_type"].dtype) == "category" and y.name == "is_skipped"


def test_every_file_layout_reads_the_same(cli, sample_dir):
    by_folder = skipper.read_mssd(sample_dir, task="session")
    log = next(sample_dir.glob("log*.csv"))
    tracks = next(sample_dir.glob("tf*.csv"))
    by_files = skipper.read_mssd(log=log, tracks=tracks, task="session")
    np.testing.assert_array_equal(by_folder.data, by_files.data)
    np.testing.assert_array_equal(by_folder.session_index, by_files.session_index)


def _reference_aa(labels, scores, sessions, positions):
    """Mean AA and first-prediction accuracy, written out in plain Python."""
    per_session = {}
    for label, score, session, position in zip(labels, scores, sessions, positions):
        per_session.setdefault(session, []).append((position, (score >= 0.5) == (label > 0.5)))
    aa, first = [], []
    for rows in per_session.values():
        correct = [c for _, c in sorted(rows)]
        right, total = 0, 0.0
        for i, c in enumerate(correct):
            if c:
                right += 1
                total += right / (i + 1)
        aa.append(total / len(correct))
        first.append(correct[0])
    return np.mean(aa), np.mean(first)


def test_session_metrics_match_a_plain_reference():
    rng = np.random.default_rng(4)
    sessions = np.repeat(np.arange(50), 7)
    positions = np.tile(np.arange(5, 12), 50)
    order = rng.permutation(len(sessions))  # rows in any order
    labels = (rng.random(len(sessions)) > 0.5).astype(np.float32)
    scores = rng.random(len(sessions)).astype(np.float32)
    aa, first = _reference_aa(labels, scores, sessions, positions)
    kw = dict(session_index=sessions[order], position=positions[order])
    assert skipper.metrics.average_accuracy(labels[order], scores[order], **kw) == pytest.approx(aa, abs=1e-12)
    assert skipper.metrics.first_prediction_accuracy(labels[order], scores[order], **kw) == pytest.approx(first)
    grid = lambda v: v.reshape(50, 7)
    mask = np.ones((50, 7), dtype=np.float32)
    assert skipper.metrics.average_accuracy(grid(labels), grid(scores), mask=mask) == pytest.approx(aa, abs=1e-12)


def test_repeat_last_baseline_agrees_across_forms():
    rows = skipper.read_mssd(task="session", sessions=300, sample_seed=8)
    seq = skipper.read_mssd(task="session", form="sequences", sessions=300, sample_seed=8)
    by_rows = skipper.metrics.session_scores(rows.target, skipper.metrics.repeat_last_predictions(rows.data, rows.feature_names),
                                             session_index=rows.session_index, position=rows.position)
    baseline = skipper.metrics.repeat_last_predictions(y=seq.target, history_mask=seq.history_mask,
                                                       predict_mask=seq.predict_mask)
    by_seq = skipper.metrics.session_scores(seq.target, baseline, mask=seq.predict_mask)
    assert by_rows["sessions"] == by_seq["sessions"] == 300
    assert by_rows["average_accuracy"] == pytest.approx(by_seq["average_accuracy"], abs=1e-12)
    # by hand: the last history label of each session
    last = np.array([seq.target[s][seq.history_mask[s] > 0][-1] for s in range(300)])
    first_predicted = np.array([seq.target[s][seq.predict_mask[s] > 0][0] for s in range(300)])
    assert by_seq["first_prediction_accuracy"] == pytest.approx(np.mean(last == first_predicted))


def test_split_indices_is_the_command_lines():
    train, test = skipper.split_indices(1000, 0.2, 42)
    assert len(test) == 200 and len(train) == 800
    assert not np.intersect1d(train, test).size and np.all(np.diff(test) > 0)
    again, _ = skipper.split_indices(1000, 0.2, 42)
    np.testing.assert_array_equal(train, again)
