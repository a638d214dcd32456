"""Parameters, pickling, progress, the GIL and Ctrl-C."""
import logging
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skipper
from skipper import _core
from skipper._inputs import param_text


def _engine_defaults(table):
    return {entry["name"]: entry["default"] for entry in table}


def test_gbdt_defaults_are_the_engines():
    # LGBMClassifier's defaults, as GBDTClassifier spells them, land on the engine table's defaults.
    pairs = skipper.GBDTClassifier()._engine_params()
    assert _core.check_gbdt_params(pairs) == _core.check_gbdt_params([])
    assert _core.check_gbdt_params([]) == _engine_defaults(_core.gbdt_param_table())


def test_lstm_defaults_are_the_engines():
    pairs = skipper.LSTMClassifier()._engine_params()
    assert _core.check_lstm_params(pairs, "seed") == _core.check_lstm_params([], "seed")


def test_lightgbm_names_map_onto_engine_names():
    model = skipper.GBDTClassifier(n_estimators=7, subsample=0.5, subsample_freq=2, colsample_bytree=0.25,
                                   min_child_samples=3, min_child_weight=0.5, reg_lambda=2.0, random_state=9,
                                   n_jobs=1, max_bin=15)
    params = _core.check_gbdt_params(model._engine_params())
    assert params["num_iterations"] == "7" and params["bagging_fraction"] == "0.5"
    assert params["bagging_freq"] == "2" and params["feature_fraction"] == "0.25"
    assert params["min_data_in_leaf"] == "3" and params["min_sum_hessian_in_leaf"] == "0.5"
    assert params["lambda_l2"] == "2" and params["seed"] == "9" and params["num_threads"] == "1"
    assert params["max_bin"] == "15"


def test_get_set_params_and_clone_keep_engine_kwargs(small_xy):
    model = skipper.GBDTClassifier(n_estimators=5, max_bin=31)
    assert model.get_params()["max_bin"] == 31
    model.set_params(max_bin=63, learning_rate=0.2)
    copy = clone(model)
    assert copy.get_params()["max_bin"] == 63 and copy.learning_rate == 0.2
    X, y = small_xy
    copy.fit(X, y)
    assert copy.booster_params_["max_bin"] == "63"
    assert param_text("x", True) == "true" and param_text("x", np.int64(3)) == "3"


def test_pickle_and_model_file_round_trip(tmp_path, small_xy):
    X, y = small_xy
    model = skipper.GBDTClassifier(n_estimators=15).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    path = tmp_path / "m.bin"
    model.save_model(path)
    loaded = skipper.GBDTClassifier().load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.n_features_in_ == 4 and list(loaded.classes_) == [0, 1]
    np.testing.assert_array_equal(loaded.feature_importances_, model.feature_importances_)
    assert model.feature_importances_.sum() > 0


def test_lstm_round_trips(tmp_path, small_xy):
    X, y = small_xy
    model = skipper.LSTMClassifier(epochs=2, hidden_size=8, num_layers=1, batch_size=32).fit(X, y)
    assert model.arch_ == "seed" and model.predict_proba(X).shape == (200, 2)
    model.save_model(tmp_path / "l.bin")
    loaded = skipper.LSTMClassifier().load_model(tmp_path / "l.bin")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-7)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).predict_proba(X), model.predict_proba(X), atol=1e-7)


def test_lstm_learns_a_sequence_rule():
    # Label of each step = sign of the previous step's feature: a recurrent model must carry state.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 8, 2)).astype(np.float32)
    y = np.zeros((400, 8), dtype=np.float32)
    y[:, 1:] = X[:, :-1, 0] > 0
    mask = np.ones((400, 8), dtype=np.float32)
    mask[:, 0] = 0
    # early_stopping_round=0: all 30 epochs run, so the loss curve has 30 points.
    model = skipper.LSTMClassifier(epochs=30, hidden_size=16, num_layers=1, batch_size=32, learning_rate=0.01,
                                   early_stopping_round=0)
    model.fit(X, y, mask=mask)
    accuracy = ((model.predict_proba(X)[..., 1] > 0.5) == (y > 0.5))[mask > 0].mean()
    assert accuracy > 0.9
    losses = model.evals_result_["train"]["logloss"]
    assert len(losses) == 30 and losses[-1] < losses[0]
    assert model.predict(X).shape == (400, 8)


def test_progress_goes_to_logging_and_callbacks(caplog, small_xy):
    X, y = small_xy
    records = []
    with caplog.at_level(logging.INFO, logger="skipper"):
        skipper.GBDTClassifier(n_estimators=4).fit(X, y, eval_set=(X, y), callbacks=[records.append])
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    assert all(r["total"] == 4 and "valid_binary_logloss" in r for r in records)
    assert any("gbdt 4/4" in message for message in caplog.messages)


def test_callback_error_stops_training_and_keeps_the_estimator(small_xy):
    X, y = small_xy
    model = skipper.GBDTClassifier(n_estimators=50)

    def stop(record):
        if record["iteration"] == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(X, y, callbacks=[stop])
    with pytest.raises(NotFittedError):
        model.predict(X)
    assert not hasattr(model, "n_features_in_")


def _big_problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100_000, 10)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_nothing_half_written(tmp_path):
    X, y = _big_problem()
    fitted = skipper.GBDTClassifier(n_estimators=2).fit(X[:1000], y[:1000])
    before = fitted.predict_proba(X[:100])
    # A job a shell starts in the background inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: install it for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fitted.set_params(n_estimators=100_000).fit(X, y)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - started < 60  # stopped within an iteration, not after 100k trees
    np.testing.assert_array_equal(fitted.predict_proba(X[:100]), before)  # the old model is intact
    assert fitted.n_features_in_ == 10


def test_gil_is_released_while_training():
    X, y = _big_problem()
    model = skipper.GBDTClassifier(n_estimators=30, n_jobs=1)
    ticks = []
    done = threading.Event()

    def train():
        model.fit(X, y)
        done.set()

    thread = threading.Thread(target=train)
    thread.start()
    while not done.is_set():
        ticks.append(time.perf_counter())  # Python code runs on this thread while C++ trains
        time.sleep(0.005)
    thread.join()
    assert len(ticks) > 20
    assert model.predict(X[:5]).shape == (5,)
