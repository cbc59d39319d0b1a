"""Right Heart Catheterization (Connors et al., 1996): 5,735 real ICU patients, from SurvSet.

Encoded by the one rule of every SurvSet cohort (:mod:`bench.datasets.survset`): yes/no
variables (comorbidity history such as ``chfhx``, admission diagnoses such as ``card``) one 0/1
column each, other categoricals (``cat1``, ``income``, ``race``, ``sex``, ``swang1``) one column
per level, numerics (age, labs, vitals) quantile bins plus a ``missing`` column where values are
missing. The label is death during follow-up; the follow-up time is dropped. ``treatment=False``
leaves out the RHC treatment itself (``swang1``).
"""

from __future__ import annotations

import pandas as pd

from bench.core.data import EHRDataset
from bench.datasets.survset import COHORTS, encode_survset, load_cohort


def encode_rhc(df: pd.DataFrame, bins: int = 4, treatment: bool = True) -> EHRDataset:
    """The binary matrix of the shared SurvSet encoding, from SurvSet's rhc frame."""
    cohort = COHORTS["rhc"]
    drop = () if treatment or "fac_swang1" not in df.columns else ("swang1",)
    return encode_survset(df, "rhc", cohort.label_name, cohort.source, bins=bins, drop=drop)


def load_rhc(bins: int = 4, treatment: bool = True, drop: str | None = None) -> EHRDataset:
    """5,735 patients x 144 binary columns (bins=4); label = death (64.9%)."""
    extra = "" if treatment else "swang1"
    return load_cohort("rhc", bins=bins, drop="+".join(v for v in (drop or "", extra) if v) or None)
