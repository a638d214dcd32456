"""Bad input raises ValueError or TypeError naming the problem, never a crash;
good input reaches the engine without a copy when it already is C-contiguous float32."""
import numpy as np
import pytest

import skipper
from skipper import _core
from skipper._inputs import as_float32


def test_float32_c_contiguous_input_is_not_copied(small_xy):
    X, _ = small_xy
    assert as_float32(X, "X", 2) is X
    assert np.shares_memory(as_float32(X[10:50], "X", 2), X)  # row slices stay contiguous views
    copied = as_float32(np.asfortranarray(X), "X", 2)
    assert copied.flags.c_contiguous and not np.shares_memory(copied, X)
    as_f64 = as_float32(X.astype(np.float64), "X", 2)
    assert as_f64.dtype == np.float32 and np.array_equal(as_f64, X)


def test_engine_boundary_refuses_implicit_conversion(small_xy):
    # The module never converts silently: the package converts once, in Python.
    X, y = small_xy
    schema = _core.Schema([f"c{j}" for j in range(4)], [False] * 4, [[]] * 4)
    with pytest.raises(TypeError):
        _core.train_gbdt(X.astype(np.float64), y.astype(np.float32), schema, None, None, [], None)
    with pytest.raises(TypeError):
        _core.train_gbdt(np.asfortranarray(X), y.astype(np.float32), schema, None, None, [], None)


@pytest.mark.parametrize("Model", [skipper.GBDTClassifier, skipper.LSTMClassifier])
def test_nan_labels(Model, small_xy):
    X, y = small_xy
    y = y.astype(np.float64)
    y[7] = np.nan
    with pytest.raises(ValueError, match="NaN.*row 7"):
        Model().fit(X, y)


def test_mismatched_lengths(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="200 rows but y has 199 labels"):
        skipper.GBDTClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="eval_set y"):
        skipper.GBDTClassifier().fit(X, y, eval_set=(X[:50], y[:49]))


def test_wrong_dtypes(small_xy):
    X, y = small_xy
    with pytest.raises(TypeError, match="X must hold numbers, got dtype <U"):
        skipper.GBDTClassifier().fit(X.astype(str), y)
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse
        skipper.GBDTClassifier().fit(scipy.sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="Unknown label type"):
        skipper.GBDTClassifier().fit(X, X[:, 0])  # a continuous target
    with pytest.raises(TypeError, match="parameter learning_rate"):
        skipper.GBDTClassifier(learning_rate=[0.1]).fit(X, y)


def test_wrong_ranks(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="2-D array, got 1-D"):
        skipper.GBDTClassifier().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="2-D array, got 3-D"):
        skipper.GBDTClassifier().fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="1-D array of labels"):
        skipper.GBDTClassifier().fit(X, np.stack([y, y], axis=1))
    model = skipper.GBDTClassifier(n_estimators=3).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but GBDTClassifier is expecting 4"):
        model.predict(X[:, :3])


def test_unknown_and_out_of_range_parameters(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="no_such_param"):
        skipper.GBDTClassifier(no_such_param=3).fit(X, y)
    with pytest.raises(ValueError, match="num_leaves"):
        skipper.GBDTClassifier(num_leaves=1).fit(X, y)
    with pytest.raises(ValueError, match="reg_alpha"):
        skipper.GBDTClassifier(reg_alpha=0.5).fit(X, y)
    with pytest.raises(ValueError, match="hidden_size"):
        skipper.LSTMClassifier(hidden_size=0).fit(X, y)
    with pytest.raises(ValueError, match="arch follows"):
        skipper.LSTMClassifier(arch="seed").fit(X, y)


def test_labels_other_than_two_classes_are_named(small_xy):
    X, _ = small_xy
    y = np.array(["a", "b", "c", "d"] * 50)
    with pytest.raises(ValueError, match=r"Only binary classification is supported.*4 classes: \['a', 'b', 'c', 'd'\]"):
        skipper.GBDTClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"1 class: \[3\]"):
        skipper.GBDTClassifier().fit(X, np.full(200, 3))


def test_two_arbitrary_labels_map_as_in_sklearn(small_xy):
    X, y = small_xy
    named = np.where(y == 1, "skip", "keep")
    model = skipper.GBDTClassifier(n_estimators=10).fit(X, named)
    assert list(model.classes_) == ["keep", "skip"]
    reference = skipper.GBDTClassifier(n_estimators=10).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))
    assert set(model.predict(X)) <= {"keep", "skip"}


def test_categorical_codes_are_checked(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match="categorical feature 'Column_1' must hold codes"):
        skipper.GBDTClassifier().fit(X, y, categorical_feature=[1])
    with pytest.raises(ValueError, match="not a feature"):
        skipper.GBDTClassifier().fit(X, y, categorical_feature=["nope"])
    codes = X.copy()
    codes[:, 1] = (X[:, 1] > 0).astype(np.float32) + 2 * (X[:, 0] > 0)
    model = skipper.GBDTClassifier(n_estimators=5).fit(codes, y, categorical_feature=[1])
    assert model._model.categorical == [False, True, False, False]


def test_lstm_sequence_input_errors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 5, 3)).astype(np.float32)
    y = (rng.random((8, 5)) > 0.5).astype(np.float32)
    model = skipper.LSTMClassifier(epochs=1, hidden_size=4, num_layers=1, batch_size=4)
    with pytest.raises(ValueError, match=r"y has shape \(8, 4\), expected \(8, 5\)"):
        model.fit(X, y[:, :4])
    with pytest.raises(ValueError, match="mask must hold 0 and 1"):
        model.fit(X, y, mask=np.full((8, 5), 0.5))
    y_nan = y.copy()
    y_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, y_nan)
    mask = np.ones((8, 5), dtype=np.float32)
    mask[0, 0] = 0
    model.fit(X, y_nan, mask=mask)  # NaN where the mask is 0 is never read
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        model.fit(X[..., None], y)
    with pytest.raises(ValueError, match="X has 2 features per step"):
        model.predict_proba(X[:, :, :2])


def test_metrics_input_errors():
    with pytest.raises(ValueError, match="3 labels, 2 scores"):
        skipper.metrics.average_accuracy([1, 0, 1], [1, 0], session_index=[0, 0, 0], position=[1, 2, 3])
    with pytest.raises(ValueError, match="session_index"):
        skipper.metrics.average_accuracy([1, 0, 1], [1, 0, 1])


def test_read_mssd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        skipper.read_mssd(tmp_path / "no-such-folder")
    with pytest.raises(ValueError, match="found no session-log file"):
        skipper.read_mssd(tmp_path)  # an empty folder
    with pytest.raises(ValueError, match="task"):
        skipper.read_mssd(task="both", sessions=20)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "log_0.csv").write_text("session_id,nothing\n1,2\n")
    (bad / "tf_0.csv").write_text("track_id\nt1\n")
    with pytest.raises(ValueError, match="log_0.csv"):
        skipper.read_mssd(bad)
