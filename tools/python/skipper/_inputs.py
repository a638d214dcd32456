"""Input checks and conversions shared by the estimators.

The engine reads C-contiguous float32 arrays without a copy; anything else
(float64, integers, Fortran order, pandas frames) is converted once here.
Every problem is a ValueError or TypeError that names it, raised before the
engine is called.
"""
import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target


def _is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def _is_sparse(X):
    return hasattr(X, "toarray") and hasattr(X, "nnz")


def as_float32(X, name, ndim):
    """A C-contiguous float32 array of rank `ndim`: X itself when it already is one."""
    if _is_sparse(X):
        raise TypeError(f"{name} is a sparse matrix; skipper takes dense arrays (use {name}.toarray())")
    if X is None:
        raise TypeError(f"{name} is None; expected an array of numbers")
    array = np.asarray(X)
    if np.iscomplexobj(array):
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}")
    if array.dtype.kind not in "biuf":
        if array.dtype.kind != "O":
            raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must hold numbers, but an element is not one: {error}") from None
    if array.ndim != ndim:
        hint = " Reshape your data with X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one sample." \
            if array.ndim == 1 and ndim == 2 else ""
        raise ValueError(f"{name} must be a {ndim}-D array, got {array.ndim}-D with shape {array.shape}.{hint}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has 0 sample(s) (shape={array.shape}) while a minimum of 1 is required.")
    if array.shape[-1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={array.shape}) while a minimum of 1 is required.")
    return np.ascontiguousarray(array, dtype=np.float32)


def frame_to_float32(frame, categories=None):
    """A pandas DataFrame as (float32 matrix, names, categorical flags, category names).

    Category columns become their codes (NaN where missing) and are marked
    categorical. With `categories` (name -> categories seen in training),
    codes are taken against those, so a column means the same at predict
    time as in training.
    """
    names = [str(c) for c in frame.columns]
    columns, categorical, category_names = [], [], []
    for column, name in zip(frame.columns, names):
        series = frame[column]
        if str(series.dtype) == "category":
            cats = series.cat.categories if categories is None else categories.get(name)
            if cats is None:
                raise ValueError(f"column {name!r} is categorical here but was not in training")
            codes = series.cat.set_categories(cats).cat.codes.to_numpy() if categories is not None \
                else series.cat.codes.to_numpy()
            values = codes.astype(np.float32)
            values[codes < 0] = np.nan
            columns.append(values)
            categorical.append(True)
            category_names.append([str(c) for c in cats])
            continue
        if series.dtype.kind not in "biuf":
            raise TypeError(f"column {name!r} has dtype {series.dtype}; expected numbers or a pandas category")
        columns.append(series.to_numpy(dtype=np.float32, na_value=np.nan))
        categorical.append(False)
        category_names.append([])
    if not columns or len(frame) == 0:
        raise ValueError(f"the DataFrame is empty (shape {frame.shape}): at least 1 sample and 1 feature are required")
    matrix = np.ascontiguousarray(np.column_stack(columns), dtype=np.float32)
    return matrix, names, categorical, category_names


def resolve_categorical(categorical_feature, names, flags):
    """Marks the columns named (or indexed) by categorical_feature as categorical."""
    if isinstance(categorical_feature, str) and categorical_feature == "auto":
        return list(flags)
    if isinstance(categorical_feature, str) or not hasattr(categorical_feature, "__iter__"):
        raise TypeError("categorical_feature must be 'auto' or a list of column indices or names, "
                        f"got {categorical_feature!r}")
    out = list(flags)
    for entry in categorical_feature:
        if isinstance(entry, (numbers.Integral, np.integer)) and not isinstance(entry, bool):
            index = int(entry)
            if not -len(names) <= index < len(names):
                raise ValueError(f"categorical_feature index {index} is out of range for {len(names)} features")
        elif isinstance(entry, str):
            if entry not in names:
                raise ValueError(f"categorical_feature names {entry!r}, which is not a feature ({names})")
            index = names.index(entry)
        else:
            raise TypeError(f"categorical_feature entries must be column indices or names, got {entry!r}")
        out[index] = True
    return out


def check_category_codes(X, categorical, names):
    """Categorical columns must hold non-negative whole-number codes (or NaN)."""
    for j, is_categorical in enumerate(categorical):
        if not is_categorical:
            continue
        column = X[:, j]
        present = column[~np.isnan(column)]
        if present.size and (present.min() < 0 or not np.all(present == np.floor(present))):
            raise ValueError(f"categorical feature {names[j]!r} must hold codes 0, 1, 2, ... (or NaN), "
                             f"found {present[(present < 0) | (present != np.floor(present))][0]!r}")


def labels_1d(y, rows, name="y"):
    """y as a 1-D array of `rows` labels: no NaN, no continuous targets."""
    if y is None:
        raise ValueError(f"this classifier requires y to be passed, but the target {name} is None")
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        warnings.warn(f"A column-vector {name} was passed when a 1d array was expected; it is flattened",
                      DataConversionWarning, stacklevel=3)
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {array.shape}")
    if array.shape[0] != rows:
        raise ValueError(f"X has {rows} rows but {name} has {array.shape[0]} labels")
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise ValueError(f"{name} holds NaN (first at row {int(np.flatnonzero(np.isnan(array))[0])}); "
                         "every label must be a class")
    if array.dtype.kind == "O" and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in array):
        raise ValueError(f"{name} holds a missing label (None or NaN)")
    check_classification_targets(array)
    return array


def binary_classes(y, estimator):
    """The two classes of y (sorted, as scikit-learn orders them) and y as 0/1 float32."""
    classes = np.unique(y)
    if classes.shape[0] > 2:
        raise ValueError(f"Only binary classification is supported. The type of the target is {type_of_target(y)}: "
                         f"{estimator} needs exactly two classes in y; got {classes.shape[0]} classes: "
                         f"{classes.tolist()}")
    if classes.shape[0] < 2:
        raise ValueError(f"{estimator} needs exactly two classes in y; got 1 class: {classes.tolist()}")
    return classes, np.ascontiguousarray(y == classes[1], dtype=np.float32)


def param_text(name, value):
    """A parameter value as the engine's key=value text."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (numbers.Integral, np.integer)):
        return str(int(value))
    if isinstance(value, (numbers.Real, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return value
    raise TypeError(f"parameter {name} must be a number, a bool or a string, got {type(value).__name__}: {value!r}")
