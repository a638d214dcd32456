"""GBDTClassifier: the engine's GBDT behind scikit-learn's conventions and
LightGBM's LGBMClassifier names."""
import inspect
import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _core
from ._inputs import (_is_frame, as_float32, binary_classes, check_category_codes, frame_to_float32, labels_1d,
                      param_text, resolve_categorical)
from ._progress import evals_result, progress_callback

# LGBMClassifier's own arguments that are not engine parameters, with the one
# value the engine supports (anything else is a ValueError at fit).
# (class_weight is not offered at all: the engine has no per-class weights.)
_FIXED = {"boosting_type": "gbdt", "reg_alpha": 0.0}


def _threads(n_jobs):
    """LightGBM's n_jobs: None or 0 every core, -1 every core, -k all but k-1."""
    if n_jobs is None or n_jobs == 0:
        return 0
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


def _seed(random_state):
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state


class _Estimator(BaseEstimator):
    """Shared by both classifiers: extra engine parameters through **kwargs
    (as LGBMClassifier takes them), pickling through the model file's bytes."""

    def __init__(self, **kwargs):
        self._other_params = dict(kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(getattr(self, "_other_params", {}))
        return params

    def set_params(self, **params):
        named = set(inspect.signature(type(self).__init__).parameters)
        for key, value in params.items():
            if key not in named:
                self._other_params[key] = value
            setattr(self, key, value)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        if "_model" in state:
            state["_model"] = state["_model"].to_bytes()
        return state

    def __setstate__(self, state):
        if "_model" in state:
            state["_model"] = self._model_type.from_bytes(state["_model"])
        self.__dict__.update(state)

    def _fit_or_keep(self, fit, *args):
        """Runs fit; Ctrl-C (KeyboardInterrupt) or an error leaves the estimator as it was before."""
        saved = dict(self.__dict__)
        try:
            return fit(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def save_model(self, path):
        """Writes the model file the command line reads (`skipper eval model=...`), atomically."""
        check_is_fitted(self, "_model")
        self._model.save(os.fspath(path))
        return self

    def _features(self, X, reset, categorical_feature="auto", feature_name="auto"):
        """X as float32 plus its schema; fit (reset) records it, predict checks against it."""
        if _is_frame(X):
            categories = None if reset else self._pandas_categories
            matrix, names, flags, category_names = frame_to_float32(X, categories)
            if reset:
                self._pandas_categories = {n: c for n, f, c in zip(names, flags, category_names) if f}
        else:
            matrix = as_float32(X, "X", 2)
            names = [f"Column_{j}" for j in range(matrix.shape[1])]
            flags, category_names = [False] * len(names), [[] for _ in names]
            if reset:
                self._pandas_categories = None
        validate_data(self, X, skip_check_array=True, reset=reset)
        if not reset:
            return matrix, None
        if not (isinstance(feature_name, str) and feature_name == "auto"):
            names = [str(n) for n in feature_name]
            if len(names) != matrix.shape[1]:
                raise ValueError(f"feature_name has {len(names)} names for {matrix.shape[1]} features")
        flags = resolve_categorical(categorical_feature, names, flags)
        check_category_codes(matrix, flags, names)
        return matrix, _core.Schema(names, flags, category_names)


class GBDTClassifier(ClassifierMixin, _Estimator):
    """Gradient-boosted trees for binary classification (Skipper's engine).

    Parameters take LightGBM's LGBMClassifier names and defaults; any other
    engine parameter (`skipper train --help` lists them, with LightGBM's
    aliases) goes through **kwargs, e.g. max_bin=63 or early_stopping_round=10.
    Unknown names and out-of-range values are a ValueError at fit.
    """

    _model_type = _core.GbdtModel

    def __init__(self, boosting_type="gbdt", num_leaves=31, max_depth=-1, learning_rate=0.1, n_estimators=100,
                 subsample_for_bin=200000, objective=None, min_split_gain=0.0,
                 min_child_weight=1e-3, min_child_samples=20, subsample=1.0, subsample_freq=0, colsample_bytree=1.0,
                 reg_alpha=0.0, reg_lambda=0.0, random_state=None, n_jobs=None, importance_type="split", **kwargs):
        self.boosting_type = boosting_type
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.subsample_for_bin = subsample_for_bin
        self.objective = objective
        self.min_split_gain = min_split_gain
        self.min_child_weight = min_child_weight
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.importance_type = importance_type
        super().__init__(**kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN is a missing value, as in LightGBM
        tags.classifier_tags.multi_class = False
        return tags

    def _engine_params(self):
        """(name, text) pairs for the engine's table, which resolves LightGBM's aliases and checks ranges."""
        for name, supported in _FIXED.items():
            value = getattr(self, name)
            if value != supported:
                raise ValueError(f"{name}={value!r} is not supported (the engine has {name}={supported!r} only)")
        if self.objective not in (None, "binary"):
            raise ValueError(f"objective={self.objective!r} is not supported; GBDTClassifier is binary")
        if self.importance_type not in ("split", "gain"):
            raise ValueError(f"importance_type must be 'split' or 'gain', got {self.importance_type!r}")
        params = {name: getattr(self, name) for name in
                  ("num_leaves", "max_depth", "learning_rate", "n_estimators", "subsample_for_bin", "min_split_gain",
                   "min_child_weight", "min_child_samples", "subsample", "subsample_freq", "colsample_bytree",
                   "reg_lambda")}
        params["num_threads"] = _threads(self.n_jobs)
        if _seed(self.random_state) is not None:
            params["seed"] = _seed(self.random_state)
        params.update(self._other_params)
        return [(name, param_text(name, value)) for name, value in params.items()]

    def fit(self, X, y, eval_set=None, feature_name="auto", categorical_feature="auto", callbacks=None):
        """Trains on X [rows, features] and two-class y.

        eval_set: one (X_valid, y_valid) pair, scored every iteration (and
        watched by early_stopping_round). categorical_feature: 'auto' (pandas
        category columns) or column indices/names holding codes 0, 1, 2, ...
        callbacks: callables taking each iteration's record (a dict).
        """
        return self._fit_or_keep(self._fit, X, y, eval_set, feature_name, categorical_feature, callbacks)

    def _fit(self, X, y, eval_set, feature_name, categorical_feature, callbacks):
        params = self._engine_params()
        matrix, schema = self._features(X, True, categorical_feature, feature_name)
        labels = labels_1d(y, matrix.shape[0])
        classes, target = binary_classes(labels, type(self).__name__)
        valid_x = valid_y = None
        if eval_set is not None:
            if isinstance(eval_set, tuple):
                eval_set = [eval_set]
            if len(eval_set) != 1 or len(eval_set[0]) != 2:
                raise ValueError("eval_set must be one (X_valid, y_valid) pair (the engine scores one validation set)")
            valid_x, _ = self._features(eval_set[0][0], False)
            if valid_x.shape[1] != matrix.shape[1]:
                raise ValueError(f"eval_set X has {valid_x.shape[1]} features, training X has {matrix.shape[1]}")
            valid_labels = labels_1d(eval_set[0][1], valid_x.shape[0], "eval_set y")
            unknown = np.setdiff1d(np.unique(valid_labels), classes)
            if unknown.size:
                raise ValueError(f"eval_set y holds labels not seen in y: {unknown.tolist()}")
            valid_y = np.ascontiguousarray(valid_labels == classes[1], dtype=np.float32)
        callback = progress_callback("gbdt", callbacks)
        model, log = _core.train_gbdt(matrix, target, schema, valid_x, valid_y, params, callback)
        self._model = model
        self.classes_ = classes
        self.n_classes_ = 2
        self.evals_result_ = evals_result(log)
        self.best_iteration_ = log["best_iteration"]
        self.feature_name_ = list(model.feature_names)
        return self

    def load_model(self, path):
        """Reads a model file written by save_model or `skipper train gbdt`.

        The file stores P(label 1); classes_ becomes [0, 1].
        """
        model = _core.GbdtModel.load(os.fspath(path))
        self._model = model
        self.classes_ = np.array([0, 1])
        self.n_classes_ = 2
        self.n_features_in_ = len(model.feature_names)
        self.feature_name_ = list(model.feature_names)
        self._pandas_categories = None
        self.evals_result_, self.best_iteration_ = {}, 0
        return self

    @property
    def booster_params_(self):
        """The engine's parameters of the fitted model, by their canonical names."""
        check_is_fitted(self, "_model")
        return dict(self._model.params)

    @property
    def feature_importances_(self):
        check_is_fitted(self, "_model")
        return self._model.feature_importance(self.importance_type)

    def _matrix(self, X):
        check_is_fitted(self, "_model")
        matrix, _ = self._features(X, False)
        return matrix

    def predict_proba(self, X):
        """[rows, 2]: the probabilities of classes_[0] and classes_[1]."""
        matrix = self._matrix(X)
        p = self._model.predict_proba(matrix)
        return np.column_stack([1.0 - p, p])

    def predict_raw(self, X):
        """Raw scores (log-odds of classes_[1])."""
        matrix = self._matrix(X)
        return self._model.predict_raw(matrix)

    def predict(self, X):
        matrix = self._matrix(X)
        p = self._model.predict_proba(matrix)
        return self.classes_[(p > 0.5).astype(np.intp)]
