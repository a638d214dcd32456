"""LSTMClassifier: the engine's (bi)directional LSTM behind scikit-learn's conventions.

The architecture follows X's rank:
- 2-D X [rows, features]: the seed architecture, the original Keras model
  (each row's features read as a sequence of 1-dim steps), one label per row;
- 3-D X [sessions, steps, features]: the session architecture, one step per
  track and a label per step; `mask` marks the steps whose labels are learned
  and scored, `step_mask` the real (non-padding) steps.
"""
import os

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._gbdt import _Estimator, _seed, _threads
from ._inputs import as_float32, binary_classes, labels_1d, param_text
from ._progress import evals_result, progress_callback


def _mask(mask, shape, name, default):
    if mask is None:
        return default
    array = as_float32(mask, name, 2)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape} (sessions, steps)")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must hold 0 and 1 only")
    return array


class LSTMClassifier(ClassifierMixin, _Estimator):
    """A (bi)directional LSTM stack with a dense + sigmoid head, trained with Adam
    on a masked binary cross-entropy. Parameters are the engine's (PyTorch's and
    Keras's names); random_state and n_jobs are accepted for seed and
    num_threads. Other engine parameters go through **kwargs."""

    _model_type = _core.LstmModel

    def __init__(self, hidden_size=116, num_layers=2, bidirectional=True, epochs=10, batch_size=1000,
                 learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, weight_decay=0.0, early_stopping_round=3,
                 random_state=42, n_jobs=None, device="auto", **kwargs):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.early_stopping_round = early_stopping_round
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        super().__init__(**kwargs)

    def _engine_params(self):
        if "arch" in self._other_params:
            raise ValueError("arch follows X's rank (2-D: seed, 3-D: session) and is not a parameter")
        params = {name: getattr(self, name) for name in
                  ("hidden_size", "num_layers", "bidirectional", "epochs", "batch_size", "learning_rate", "beta1",
                   "beta2", "epsilon", "weight_decay", "early_stopping_round", "device")}
        params["num_threads"] = _threads(self.n_jobs)
        if _seed(self.random_state) is not None:
            params["seed"] = _seed(self.random_state)
        params.update(self._other_params)
        return [(name, param_text(name, value)) for name, value in params.items()]

    def fit(self, X, y, mask=None, step_mask=None, eval_set=None, feature_name="auto", categorical_feature="auto",
            callbacks=None):
        """Trains on rows (2-D X, 1-D y) or sessions (3-D X, 2-D y of 0/1 labels).

        eval_set: one validation set: (X, y) for rows, (X, y, mask[, step_mask])
        for sessions, scored every epoch (and watched by early_stopping_round);
        without one, the engine holds out validation_fraction of the training data.
        """
        return self._fit_or_keep(self._fit, X, y, mask, step_mask, eval_set, feature_name, categorical_feature,
                                 callbacks)

    def _fit(self, X, y, mask, step_mask, eval_set, feature_name, categorical_feature, callbacks):
        params = self._engine_params()
        rank = np.ndim(X) if not hasattr(X, "columns") else 2
        if rank not in (2, 3):
            raise ValueError(f"X must be 2-D [rows, features] or 3-D [sessions, steps, features], got {rank}-D")
        callback = progress_callback("lstm", callbacks)
        if rank == 2:
            if mask is not None or step_mask is not None:
                raise ValueError("mask and step_mask go with 3-D X (sessions); 2-D X has one label per row")
            matrix, schema = self._features(X, True, categorical_feature, feature_name)
            classes, target = binary_classes(labels_1d(y, matrix.shape[0]), type(self).__name__)
            valid_x = valid_y = None
            if eval_set is not None:
                valid_x, _ = self._features(eval_set[0], False)
                valid_labels = labels_1d(eval_set[1], valid_x.shape[0], "eval_set y")
                unknown = np.setdiff1d(np.unique(valid_labels), classes)
                if unknown.size:
                    raise ValueError(f"eval_set y holds labels not seen in y: {unknown.tolist()}")
                valid_y = np.ascontiguousarray(valid_labels == classes[1], dtype=np.float32)
            model, log = _core.train_lstm_rows(matrix, target, schema, valid_x, valid_y, params, callback)
            self.classes_ = classes
        else:
            x, target, masks = self._sequences(X, y, mask, step_mask)
            self.n_features_in_ = x.shape[2]
            if isinstance(feature_name, str) and feature_name == "auto":
                names = [f"Column_{j}" for j in range(x.shape[2])]
            else:
                names = [str(n) for n in feature_name]
                if len(names) != x.shape[2]:
                    raise ValueError(f"feature_name has {len(names)} names for {x.shape[2]} features")
            valid = [None] * 4
            if eval_set is not None:
                if not 3 <= len(eval_set) <= 4:
                    raise ValueError("eval_set for sessions is (X, y, mask) or (X, y, mask, step_mask)")
                vx, vy, vmasks = self._sequences(*eval_set)
                if vx.shape[2] != x.shape[2]:
                    raise ValueError(f"eval_set X has {vx.shape[2]} features, training X has {x.shape[2]}")
                valid = [vx, vy, vmasks[0], vmasks[1]]
            model, log = _core.train_lstm_sequences(x, target, masks[0], masks[1], names, *valid, params, callback)
            self.classes_ = np.array([0, 1])
        self._model = model
        self.n_classes_ = 2
        self.evals_result_ = evals_result(log)
        self.best_iteration_ = log["best_iteration"]
        self.feature_name_ = list(model.feature_names)
        return self

    def _sequences(self, X, y, mask=None, step_mask=None):
        """(inputs, labels, (step_mask, predict_mask)) for the session architecture."""
        x = as_float32(X, "X", 3)
        steps = x.shape[:2]
        step = _mask(step_mask, steps, "step_mask", np.ones(steps, dtype=np.float32))
        predict = _mask(mask, steps, "mask", step)
        labels = np.asarray(y)
        if labels.shape != steps:
            raise ValueError(f"y has shape {labels.shape}, expected {steps} (sessions, steps) like X")
        if labels.dtype.kind not in "biuf":
            raise TypeError(f"y must hold 0/1 labels, got dtype {labels.dtype}")
        labels = np.ascontiguousarray(labels, dtype=np.float32)
        scored = labels[predict > 0]
        if np.isnan(scored).any():
            raise ValueError("y holds NaN at a step the mask selects; every scored step needs a 0/1 label")
        if not np.all((scored == 0) | (scored == 1)):
            raise ValueError(f"y must hold 0/1 labels at the masked steps, found {np.unique(scored).tolist()[:5]}")
        # Padding labels are never read, but the engine's arrays hold no NaN.
        labels = np.where(predict > 0, labels, 0).astype(np.float32)
        return x, labels, (step, predict)

    def load_model(self, path):
        """Reads a model file written by save_model or `skipper train lstm`."""
        model = _core.LstmModel.load(os.fspath(path))
        self._model = model
        self.classes_ = np.array([0, 1])
        self.n_classes_ = 2
        self.n_features_in_ = len(model.feature_names)
        self.feature_name_ = list(model.feature_names)
        self._pandas_categories = None
        self.evals_result_, self.best_iteration_ = {}, 0
        return self

    @property
    def arch_(self):
        check_is_fitted(self, "_model")
        return self._model.arch

    def predict_proba(self, X, step_mask=None):
        """Rows: [rows, 2]. Sessions: [sessions, steps, 2] (padding steps hold [1, 0])."""
        check_is_fitted(self, "_model")
        if self._model.arch == "seed":
            if step_mask is not None:
                raise ValueError("step_mask goes with 3-D X (a session model); this model classifies rows")
            matrix, _ = self._features(X, False)
            p = self._model.predict_rows(matrix)
        else:
            x = as_float32(X, "X", 3)
            if x.shape[2] != self.n_features_in_:
                raise ValueError(f"X has {x.shape[2]} features per step, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input")
            step = _mask(step_mask, x.shape[:2], "step_mask", np.ones(x.shape[:2], dtype=np.float32))
            p = self._model.predict_sequences(x, step)
        return np.stack([1.0 - p, p], axis=-1)

    def predict(self, X, step_mask=None):
        p = self.predict_proba(X, step_mask)[..., 1]
        return self.classes_[(p > 0.5).astype(np.intp)]
