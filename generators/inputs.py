"""What a generator's public ``fit`` accepts and what its ``sample`` gives back.

Every generator learns from an :class:`EHRDataset` and samples arrays ``(X, y)`` (its own
methods, see :mod:`generators.base`). A user may instead hand ``fit`` a numpy array, a scipy
sparse matrix or a pandas DataFrame, of 0/1 codes or of counts; this module turns that input into
an ``EHRDataset`` and remembers its form (:class:`InputForm`), so that ``sample`` returns records of
the same form: an array of the input's dtype, a sparse CSR array, or a DataFrame with the input's
column names and dtypes.

The label. ``fit(X, y)`` takes ``y`` as an array of 0/1 (a Series included) or, for a
DataFrame, the name of one of its columns. ``sample`` returns it as the second value of a tuple
for arrays (``X, y = gen.sample(n)``) and as a column of the DataFrame (named as the Series or the
column it came from, else ``label``; a named column keeps its position). A generator that cannot
condition on the label learns it as one more column, and its sampled column is thresholded at 0.5:
the rule the benchmark's harness applies (:func:`split_label_column`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import OptionError

DEFAULT_LABEL = "label"


@dataclass(frozen=True)
class InputForm:
    """The form of what ``fit`` was given: how ``sample`` shapes its records."""

    form: str  # "dataset", "array", "sparse" or "frame"
    columns: tuple[str, ...] = ()
    dtypes: tuple[Any, ...] = ()  # per column (frame) or one (array)
    label: str | None = None  # the label's name, when fit was given one
    label_position: int | None = None  # where a DataFrame's label column stood
    label_as_column: bool = False  # learned as the last column (an unconditional generator)
    kind: str = "binary"  # the records' kind: "binary" or "count"


def split_label_column(Xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records sampled with the label as their last column: the codes and the label, thresholded
    at 0.5 (a count generator may emit any non-negative number there)."""
    Xy = np.asarray(Xy, dtype=np.float32)
    return Xy[:, :-1], (Xy[:, -1] >= 0.5).astype(np.int64)


def _labels(y: Any, n: int, name: str | None) -> tuple[np.ndarray, str | None]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise OptionError(f"fit: y must be one label per record ({n}), got shape {arr.shape}")
    return arr, name


def as_dataset(X: Any, y: Any = None, name: str = "input") -> tuple[EHRDataset, InputForm]:
    """``X`` (array, sparse matrix, DataFrame or EHRDataset) and ``y`` as an EHRDataset, and the
    form to give sampled records back in. Values must be 0/1 (kind ``binary``) or non-negative
    whole numbers (kind ``count``); anything else is an error naming the column."""
    if isinstance(X, EHRDataset):
        if y is not None:
            raise OptionError("fit: an EHRDataset carries its own label; pass y=None")
        return X, InputForm("dataset", tuple(X.columns))
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    from scipy import sparse

    if pd is not None and isinstance(X, pd.DataFrame):
        return _frame_dataset(X, y, name)
    if sparse.issparse(X):
        n, d = X.shape
        columns = tuple(f"c{j}" for j in range(d))
        yy, label = (None, None) if y is None else _labels(y, n, getattr(y, "name", None) or DEFAULT_LABEL)
        M = sparse.csr_array(X, dtype=np.float32)
        data = EHRDataset(X=M, y=yy, columns=columns, kind=_kind(M.data), name=name,
                          label_name=label or DEFAULT_LABEL)
        return data, InputForm("sparse", columns, (X.dtype,), label)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise OptionError(f"fit: X must be 2-D (records x codes), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype.kind == "b"):
        raise OptionError(f"fit: X must be numeric (0/1 codes or counts), got dtype {arr.dtype}")
    columns = tuple(f"c{j}" for j in range(arr.shape[1]))
    yy, label = (None, None) if y is None else _labels(y, arr.shape[0], getattr(y, "name", None) or DEFAULT_LABEL)
    data = EHRDataset(X=arr, y=yy, columns=columns, kind=_kind(arr), name=name, label_name=label or DEFAULT_LABEL)
    return data, InputForm("array", columns, (arr.dtype,), label)


def _kind(values: np.ndarray) -> str:
    values = np.asarray(values)
    return "binary" if bool(np.all((values == 0) | (values == 1))) else "count"


def _frame_dataset(df: Any, y: Any, name: str) -> tuple[EHRDataset, InputForm]:
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        raise OptionError("fit: the DataFrame's column names are not unique")
    position = None
    if isinstance(y, str):  # the label is one of the frame's columns
        if y not in columns:
            raise OptionError(f"fit: y={y!r} names no column of the DataFrame")
        position = columns.index(y)
        label, yy = y, df.iloc[:, position].to_numpy()
        df = df.drop(columns=df.columns[position])
        columns = [str(c) for c in df.columns]
    elif y is not None:
        yy, label = _labels(y, len(df), getattr(y, "name", None) or DEFAULT_LABEL)
        if label in columns:
            raise OptionError(f"fit: the label's name {label!r} is also a column of X; rename one")
    else:
        yy, label = None, None
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for c, dtype in zip(columns, df.dtypes, strict=True):
        if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype)):
            raise OptionError(f"fit: column {c!r} is not numeric (dtype {dtype}); codes are 0/1 or counts")
    X = df.to_numpy(dtype=np.float32)  # a missing value becomes NaN: EHRDataset names its column
    data = EHRDataset(X=X, y=yy, columns=columns, kind=_kind(X), name=name, label_name=label or DEFAULT_LABEL)
    return data, InputForm("frame", tuple(columns), tuple(df.dtypes), label, position)


def as_input_form(X: np.ndarray, y: np.ndarray | None, form: InputForm) -> Any:
    """Sampled records ``(X, y)`` in the form ``fit`` was given (see the module docstring)."""
    if form.form == "dataset":
        return X, y
    if form.form == "array":
        out = _cast(X, form.dtypes[0])
        return out if form.label is None else (out, y)
    if form.form == "sparse":
        from scipy import sparse

        out = sparse.csr_array(_cast(X, form.dtypes[0]))
        return out if form.label is None else (out, y)
    import pandas as pd

    frame = pd.DataFrame({c: _cast(X[:, j], _frame_dtype(t))
                          for j, (c, t) in enumerate(zip(form.columns, form.dtypes, strict=True))})
    if form.label is not None:  # a generator configured not to condition returns no label: NA
        values = (pd.array([pd.NA] * len(frame), dtype="Int64") if y is None
                  else np.asarray(y, dtype=np.int64))
        at = len(frame.columns) if form.label_position is None else form.label_position
        frame.insert(at, form.label, values)
    return frame


def _cast(X: np.ndarray, dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.asarray(X) > 0.5
    if np.issubdtype(dtype, np.integer):
        return np.rint(X).astype(dtype)
    return np.asarray(X).astype(dtype, copy=False)


def _frame_dtype(dtype: Any) -> Any:
    """A numpy dtype a sampled column takes (a pandas extension dtype falls back to float32)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.float32
