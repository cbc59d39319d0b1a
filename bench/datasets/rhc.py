"""Right Heart Catheterization (Connors et al., 1996): 5,735 real ICU patients, from SurvSet.

SurvSet is GPL-3, so it is an optional extra (``pip install 'ehrbench[rhc]'``) and only imported
here. Its copy ships inside the package: nothing is downloaded. Every variable becomes binary
columns so that the binary generators apply unchanged:

* yes/no variables (comorbidity history flags such as ``chfhx``, admission diagnoses such as
  ``card``) -> one 0/1 column each;
* other categoricals (``cat1``, ``income``, ``race``, ``sex``, ...) -> one column per level;
* numerics (age, labs, vitals) -> quantile bins (``bins`` per variable, fewer when values tie),
  plus a ``missing`` column where the variable has missing values.

The label is death during follow-up (SurvSet's ``event``); the follow-up ``time`` is dropped, as
it would give the label away.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

_YES_NO = ({0, 1}, {"0", "1"}, {"No", "Yes"})


def _survset_rhc() -> pd.DataFrame:
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise DatasetError(
            "dataset 'rhc' needs SurvSet (GPL-3, an optional extra): pip install 'ehrbench[rhc]'"
        ) from None
    try:
        with warnings.catch_warnings():  # its pickle names numpy.core, deprecated in numpy 2
            warnings.simplefilter("ignore", DeprecationWarning)
            return SurvLoader().load_dataset("rhc")["df"]
    except Exception as exc:  # a SurvSet without rhc, or an unreadable copy
        raise DatasetError(f"dataset 'rhc': SurvSet could not load it: {exc}") from None


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def encode_rhc(df: pd.DataFrame, bins: int = 4, treatment: bool = True) -> EHRDataset:
    """The binary matrix described in the module docstring, from SurvSet's frame."""
    if bins < 2:
        raise DatasetError(f"rhc: bins must be at least 2, got {bins}")
    for col in ("event", "time"):
        if col not in df.columns:
            raise DatasetError(f"rhc: SurvSet's frame has no {col!r} column")
    blocks: list[np.ndarray] = []
    columns: list[str] = []
    names: list[str] = []

    def add(flag: np.ndarray, col: str, name: str) -> None:
        if flag.any():  # a level or bin nobody has would be an empty column
            blocks.append(flag.astype(np.float32))
            columns.append(col)
            names.append(name)

    for raw in df.columns:
        if raw.startswith("fac_"):
            var = raw[4:]
            if var == "swang1" and not treatment:
                continue
            s = df[raw]
            levels = list(s.cat.categories) if hasattr(s, "cat") else sorted(s.dropna().unique().tolist())
            if set(levels) in _YES_NO or {str(v) for v in levels} in _YES_NO:
                on = s.astype(str).isin(["1", "Yes"]).to_numpy()
                add(on, var, var)
            else:
                for level in levels:
                    add((s == level).to_numpy(), f"{var}={level}", f"{var}: {level}")
            if s.isna().any():
                add(s.isna().to_numpy(), f"{var}=missing", f"{var}: missing")
        elif raw.startswith("num_"):
            var = raw[4:]
            x = pd.to_numeric(df[raw], errors="coerce").to_numpy(np.float64)
            seen = np.isfinite(x)
            if seen.any():
                qs = np.quantile(x[seen], np.linspace(0, 1, bins + 1)[1:-1])
                edges = np.unique(qs)
                edges = edges[edges > x[seen].min()]  # a cut at the minimum leaves an empty first bin
                b = np.searchsorted(edges, x, side="right")
                bounds = [x[seen].min(), *edges, x[seen].max()]
                for k in range(len(edges) + 1):
                    hi = "]" if k == len(edges) else ")"
                    add(seen & (b == k), f"{var}:q{k + 1}",
                        f"{var} in [{_fmt(bounds[k])}, {_fmt(bounds[k + 1])}{hi}")
            add(~seen, f"{var}:missing", f"{var}: missing")
    if not blocks:
        raise DatasetError("rhc: no feature columns in SurvSet's frame")
    X = np.column_stack(blocks)
    y = pd.to_numeric(df["event"], errors="coerce").to_numpy()
    return EHRDataset(
        X=X,
        y=y,
        columns=columns,
        names=names,
        kind="binary",
        name="rhc",
        label_name="death",
        source="SurvSet rhc (Connors et al. 1996)",
    )


def load_rhc(bins: int = 4, treatment: bool = True) -> EHRDataset:
    """5,735 patients x about 140 binary columns; label = death (65%)."""
    return encode_rhc(_survset_rhc(), bins=bins, treatment=treatment)
