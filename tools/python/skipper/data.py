"""MSSD data as numpy arrays or pandas frames, read by the command line's own code."""
import os
import warnings

import numpy as np
from sklearn.utils import Bunch

from . import _core


def read_mssd(path=None, task="seed", *, log=None, tracks=None, with_leak=True, form="rows", as_frame=False,
              return_X_y=False, sessions=2000, sample_seed=42, on_bad_row="error"):
    """Reads MSSD files (or generates a sample) and builds a task's features and labels.

    Where the data comes from, as `skipper train` takes it: `path` a folder
    holding one log*.csv and one tf*.csv (data=DIR), or `log` and `tracks`
    naming the two files, or neither: a generated sample of `sessions`
    sessions (seed `sample_seed`).

    task="seed": one row per played track, the 13 features (12 with
    with_leak=False, which drops hist_user_behavior_reason_end), target
    is_skipped. task="session": the WSDM Cup 2019 task, target skip_2 of each
    session's second half; form="rows" gives one row per track to predict (for
    the GBDT, with session_index and position), form="sequences" one session
    per row, [sessions, steps, features] (for the LSTM, with step_mask,
    history_mask and predict_mask).

    Returns a Bunch (data, target, feature_names, ...) or, with return_X_y,
    (data, target). With as_frame, data is a pandas DataFrame whose
    label-encoded columns are pandas categories, and target a Series.
    """
    if form not in ("rows", "sequences"):
        raise ValueError(f"form must be 'rows' or 'sequences', got {form!r}")
    if as_frame and form == "sequences":
        raise ValueError("as_frame applies to form='rows'; sequences are 3-D arrays")
    path = "" if path is None else os.fspath(path)
    log = "" if log is None else os.fspath(log)
    tracks = "" if tracks is None else os.fspath(tracks)
    for name, value in (("path", path), ("log", log), ("tracks", tracks)):
        if value and not os.path.exists(value):
            raise FileNotFoundError(f"{name}: no such file or folder: {value!r}")
    raw = _core.read_mssd(path, log, tracks, int(sessions), int(sample_seed), on_bad_row, task, bool(with_leak),
                          form == "sequences")
    for message in raw.pop("warnings"):
        text = message.strip()
        warnings.warn(text[len("warning: "):] if text.startswith("warning: ") else text, UserWarning, stacklevel=2)
    out = Bunch(**raw)
    out.target_name = "skip_2" if task == "session" else "is_skipped"
    if form == "rows":
        out.categorical_feature = [j for j, flag in enumerate(out.categorical) if flag]
        if as_frame:
            out.data, out.target = _frame(out)
            out.frame = out.data.assign(**{out.target_name: out.target})
    return (out.data, out.target) if return_X_y else out


def _frame(out):
    import pandas as pd

    columns = {}
    for j, name in enumerate(out.feature_names):
        values = out.data[:, j]
        if out.categorical[j]:
            codes = np.where(np.isnan(values), -1, values).astype(np.int64)
            columns[name] = pd.Categorical.from_codes(codes, categories=out.category_names[j])
        else:
            columns[name] = values
    return pd.DataFrame(columns), pd.Series(out.target, name=out.target_name)


def split_indices(count, test_fraction=0.2, seed=42):
    """The command line's held-out split of `count` items (rows for the seed
    task, sessions for the session task): (train, test) index arrays, ascending.

    The seed task splits rows, the session task whole sessions (pass the
    number of sessions, then select rows with np.isin(session_index, test)).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    return _core.split(int(count), float(test_fraction), int(seed))
