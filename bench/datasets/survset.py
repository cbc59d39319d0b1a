"""Cohorts of real patients from SurvSet (Drysdale, 2022), all in one binary encoding.

SurvSet is GPL-3, so it is an optional extra (``pip install 'ehrbench[survset]'``; ``rhc`` is the
same extra under its old name) and only imported here. Its data are pickles inside the wheel:
nothing is downloaded, ever. Each cohort becomes binary columns so that every binary generator
applies unchanged, by one rule shared by all of them (``rhc`` included):

* yes/no and 0/1 variables -> one 0/1 column each (``chfhx``, ``mgus``);
* other categoricals -> one column per level (``disease=renal``); a level named ``missing`` in
  SurvSet's frame, or a missing value, gives the column ``var=missing``;
* numerics -> quantile bins (``bins`` per variable, fewer where values tie; a bin nobody falls in
  is never a column), plus a ``var:missing`` column where the variable has missing values. A
  variable missing for a patient is one indicator, not an imputed value: a generator must learn
  when a lab was not drawn, as it must in an EHR;
* a variable SurvSet gives twice, as ``fac_x`` and ``num_x`` (flchain's sample year), is encoded
  once, as the categorical.

The label is SurvSet's ``event`` (the cohort's outcome observed during follow-up); the follow-up
``time`` is dropped, as it would give the label away, and so is every variable recorded only
after the outcome (``leaks`` of the cohort table: flchain's cause-of-death chapter is known only
for the dead). Entry-time covariates stay (Dialysis' month of starting treatment, flchain's
sample year): they are baseline facts, though with administrative censoring they also tell how
long a patient could be followed.

Bin edges are the quantiles of the whole cohort, before any train/test split. This is a fixed,
label-free encoding: the edges use no label and are the same for every seed, so every split of
a cohort has the same columns and results of different seeds compare column by column. What a
test record contributes is its share in placing a cut between quantiles of thousands of values;
the split-dependent alternative would give every seed its own column definitions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

_YES_NO = ({0, 1}, {"0", "1"}, {"No", "Yes"})
EXTRA = "survset"


@dataclass(frozen=True)
class Cohort:
    """One SurvSet cohort: its name there, what its ``event`` is, where it comes from."""

    survset: str  # SurvSet's (case-sensitive) name
    label_name: str
    source: str  # the citation, short
    leaks: tuple[str, ...] = ()  # variables known only after the outcome: always dropped


COHORTS: dict[str, Cohort] = {
    "rhc": Cohort("rhc", "death", "SurvSet rhc (Connors et al. 1996)"),
    "flchain": Cohort(
        "flchain", "death", "SurvSet flchain (Dispenzieri et al. 2012; Kyle et al. 2006)", leaks=("chapter",)
    ),
    "dialysis": Cohort("Dialysis", "death", "SurvSet Dialysis (Sa Carvalho et al. 2003)"),
    "smarto": Cohort("smarto", "vascular_event", "SurvSet smarto (SMART study; Steyerberg 2009)"),
    "framingham": Cohort("Framingham", "chd", "SurvSet Framingham (Framingham Heart Study; Dupont 2009)"),
}


def survset_frame(name: str) -> pd.DataFrame:
    """SurvSet's frame of cohort ``name`` (a key of :data:`COHORTS`); clear errors when it cannot."""
    cohort = COHORTS[name]
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise DatasetError(
            f"dataset {name!r} needs SurvSet (GPL-3, an optional extra): pip install 'ehrbench[{EXTRA}]'"
        ) from None
    try:
        with warnings.catch_warnings():  # its pickles name numpy.core, deprecated in numpy 2
            warnings.simplefilter("ignore", DeprecationWarning)
            return SurvLoader().load_dataset(cohort.survset)["df"]
    except Exception as exc:  # a SurvSet without this cohort, or an unreadable copy
        raise DatasetError(f"dataset {name!r}: SurvSet could not load {cohort.survset!r}: {exc}") from None


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def encode_survset(
    df: pd.DataFrame,
    name: str,
    label_name: str,
    source: str,
    bins: int = 4,
    drop: tuple[str, ...] | list[str] = (),
) -> EHRDataset:
    """The binary matrix described in the module docstring, from a SurvSet frame.

    ``drop`` names variables (without the ``fac_``/``num_`` prefix) to leave out.
    """
    if bins < 2:
        raise DatasetError(f"{name}: bins must be at least 2, got {bins}")
    for col in ("event", "time"):
        if col not in df.columns:
            raise DatasetError(f"{name}: SurvSet's frame has no {col!r} column")
    variables = {c[4:] for c in df.columns if c.startswith(("fac_", "num_"))}
    unknown = sorted(set(drop) - variables)
    if unknown:
        raise DatasetError(f"{name}: drop names {unknown} that are not variables; "
                           f"its variables: {', '.join(sorted(variables))}")
    factors = {c[4:] for c in df.columns if c.startswith("fac_")}
    blocks: list[np.ndarray] = []
    columns: list[str] = []
    names: list[str] = []

    def add(flag: np.ndarray, col: str, label: str) -> None:
        if flag.any():  # a level or bin nobody has would be an empty column
            blocks.append(flag.astype(np.float32))
            columns.append(col)
            names.append(label)

    for raw in df.columns:
        var = raw[4:]
        if var in drop:
            continue
        if raw.startswith("fac_"):
            s = df[raw]
            levels = list(s.cat.categories) if hasattr(s, "cat") else sorted(s.dropna().unique().tolist())
            if set(levels) in _YES_NO or {str(v) for v in levels} in _YES_NO:
                add(s.astype(str).isin(["1", "Yes"]).to_numpy(), var, var)
            else:
                for level in levels:
                    add((s == level).to_numpy(), f"{var}={level}", f"{var}: {level}")
            if s.isna().any():
                add(s.isna().to_numpy(), f"{var}=missing", f"{var}: missing")
        elif raw.startswith("num_") and var not in factors:
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
        raise DatasetError(f"{name}: no feature columns in SurvSet's frame")
    y = pd.to_numeric(df["event"], errors="coerce").to_numpy(np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise DatasetError(f"{name}: SurvSet's 'event' column holds values other than 0/1")
    return EHRDataset(
        X=np.column_stack(blocks),
        y=y,
        columns=columns,
        names=names,
        kind="binary",
        name=name,
        label_name=label_name,
        source=source,
    )


def load_cohort(name: str, bins: int = 4, drop: str | None = None) -> EHRDataset:
    """Cohort ``name`` (a key of :data:`COHORTS`), encoded; ``drop``: variables joined by '+'."""
    cohort = COHORTS[name]
    dropped = (*cohort.leaks, *(v for v in (drop or "").split("+") if v))
    return encode_survset(survset_frame(name), name, cohort.label_name, cohort.source, bins=bins, drop=dropped)
