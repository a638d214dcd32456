"""Session-task metrics (WSDM Cup 2019), computed by the engine's own code.

Per session with T predicted tracks, in position order,
AA = (1/T) * sum_i A(i) * L(i), A(i) the accuracy of the first i predictions
and L(i) = 1 if prediction i is right. Scores are probabilities thresholded at
0.5. Two forms:
- rows: 1-D y_true and y_score with session_index and position per row (the
  rows of read_mssd(task="session"), in any order);
- sequences: 2-D [sessions, steps] y_true and y_score with mask, the steps
  that are predicted (read_mssd(task="session", form="sequences").predict_mask).
"""
import numpy as np

from . import _core
from ._inputs import as_float32


def _vector(values, name, dtype):
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    if np.issubdtype(dtype, np.integer) and array.dtype.kind == "f":
        if not np.all(array == np.floor(array)):
            raise ValueError(f"{name} must hold whole numbers")
    return np.ascontiguousarray(array, dtype=dtype)


def session_scores(y_true, y_score, *, session_index=None, position=None, mask=None):
    """{'average_accuracy': mean AA, 'first_prediction_accuracy': ..., 'sessions': n}."""
    if np.ndim(y_true) == 2:
        if mask is None or session_index is not None or position is not None:
            raise ValueError("2-D y_true (sessions, steps) takes mask=, not session_index/position")
        labels = as_float32(y_true, "y_true", 2)
        scores = as_float32(y_score, "y_score", 2)
        predict = as_float32(mask, "mask", 2)
        if scores.shape != labels.shape or predict.shape != labels.shape:
            raise ValueError(f"y_true {labels.shape}, y_score {scores.shape} and mask {predict.shape} must match")
        return _core.session_scores_sequences(labels, scores, predict)
    if session_index is None or position is None:
        raise ValueError("1-D y_true (one per row) needs session_index= and position=")
    labels = _vector(y_true, "y_true", np.float32)
    scores = _vector(y_score, "y_score", np.float32)
    sessions = _vector(session_index, "session_index", np.int32)
    positions = _vector(position, "position", np.int32)
    if not len(labels) == len(scores) == len(sessions) == len(positions):
        raise ValueError(f"{len(labels)} labels, {len(scores)} scores, {len(sessions)} session indices and "
                         f"{len(positions)} positions: all must be equal")
    return _core.session_scores_rows(sessions, positions, labels, scores)


def average_accuracy(y_true, y_score, **form):
    """Mean Average Accuracy over sessions (the WSDM Cup 2019 score)."""
    return session_scores(y_true, y_score, **form)["average_accuracy"]


def first_prediction_accuracy(y_true, y_score, **form):
    """The share of sessions whose first predicted track is right."""
    return session_scores(y_true, y_score, **form)["first_prediction_accuracy"]


def repeat_last_predictions(X=None, feature_names=None, *, y=None, history_mask=None, predict_mask=None):
    """The repeat-last baseline: each predicted track gets the skip_2 of the session's last history track.

    Rows: X and feature_names from read_mssd(task="session") (it reads the
    history_last_skip_2 feature). Sequences: y, history_mask and predict_mask
    from read_mssd(task="session", form="sequences"); 0 outside predict_mask.
    """
    if X is not None:
        if feature_names is None:
            raise ValueError("the rows form needs feature_names (with history_last_skip_2)")
        matrix = as_float32(X, "X", 2)
        names = [str(n) for n in feature_names]
        if len(names) != matrix.shape[1]:
            raise ValueError(f"{len(names)} feature names for {matrix.shape[1]} features")
        return _core.repeat_last_rows(matrix, names)
    if y is None or history_mask is None or predict_mask is None:
        raise ValueError("give X and feature_names (rows), or y, history_mask and predict_mask (sequences)")
    labels = as_float32(y, "y", 2)
    history = as_float32(history_mask, "history_mask", 2)
    predict = as_float32(predict_mask, "predict_mask", 2)
    if history.shape != labels.shape or predict.shape != labels.shape:
        raise ValueError(f"y {labels.shape}, history_mask {history.shape} and predict_mask {predict.shape} must match")
    return _core.repeat_last_sequences(labels, history, predict)
