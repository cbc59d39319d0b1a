"""SurvSet cohorts: the one shared encoding on hand-made frames (always), and every cohort as
documented in docs/datasets.md (when the GPL extra is installed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import datasets
from bench.core.errors import DatasetError
from bench.datasets.survset import COHORTS, encode_survset


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": [1, 2, 3, 4, 5],
            "event": [1, 0, 1, 0, 0],
            "time": [10, 200, 30, 180, 90],
            "num_year": [1995, 1996, 1995, 1997, 1996],
            "fac_year": pd.Categorical([1995, 1996, 1995, 1997, 1996]),
            "num_lab": [1.0, 2.0, 3.0, 4.0, np.nan],
            "fac_smoking": pd.Categorical(["1", "2", "missing", "1", "2"]),
            "fac_mgus": pd.Categorical([0, 0, 1, 0, 0]),
            "fac_cause": pd.Categorical(["heart", None, "cancer", None, None]),
        }
    )


def test_shared_encoding_by_hand():
    d = encode_survset(_frame(), "demo", "death", "hand-made", bins=2, drop=("cause",))
    # the year given twice is encoded once, as the categorical; the lab's median 2.5 cuts it
    assert d.columns == [
        "year=1995", "year=1996", "year=1997", "lab:q1", "lab:q2", "lab:missing",
        "smoking=1", "smoking=2", "smoking=missing", "mgus",
    ]
    expected = np.array(
        [
            [1, 0, 0, 1, 0, 0, 1, 0, 0, 0],
            [0, 1, 0, 1, 0, 0, 0, 1, 0, 0],
            [1, 0, 0, 0, 1, 0, 0, 0, 1, 1],
            [0, 0, 1, 0, 1, 0, 1, 0, 0, 0],
            [0, 1, 0, 0, 0, 1, 0, 1, 0, 0],
        ],
        dtype=np.float32,
    )
    assert np.array_equal(d.X, expected)
    assert np.array_equal(d.y, [1, 0, 1, 0, 0]) and d.label_name == "death" and d.name == "demo"
    assert d.names[3:5] == ["lab in [1, 2.5)", "lab in [2.5, 4]"]
    assert not any(c.startswith(("time", "pid", "event", "cause")) for c in d.columns)


def test_missing_categorical_values_get_their_own_column():
    d = encode_survset(_frame(), "demo", "death", "hand-made", bins=2)
    assert [c for c in d.columns if c.startswith("cause")] == ["cause=cancer", "cause=heart", "cause=missing"]
    assert d.X[:, d.columns.index("cause=missing")].tolist() == [0, 1, 0, 1, 1]


def test_bad_frames_and_options_are_clear_errors():
    with pytest.raises(DatasetError, match="drop names \\['nope'\\]"):
        encode_survset(_frame(), "demo", "death", "x", drop=("nope",))
    with pytest.raises(DatasetError, match="bins must be at least 2"):
        encode_survset(_frame(), "demo", "death", "x", bins=1)
    with pytest.raises(DatasetError, match="no 'time' column"):
        encode_survset(_frame().drop(columns="time"), "demo", "death", "x")
    bad = _frame().assign(event=[1, 0, 2, 0, 0])
    with pytest.raises(DatasetError, match="'event' column holds values other than 0/1"):
        encode_survset(bad, "demo", "death", "x")


# the figures docs/datasets.md gives: records, columns (bins=4), label prevalence, density
DOCUMENTED = {
    "rhc": (5735, 144, 0.6490, 0.229),
    "flchain": (7874, 33, 0.2755, 0.213),
    "dialysis": (6805, 80, 0.2356, 0.050),
    "smarto": (3873, 107, 0.1188, 0.221),
    "framingham": (4699, 36, 0.3135, 0.194),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_cohort_from_survset_as_documented(name):
    pytest.importorskip("SurvSet", reason="the GPL extra 'survset' is not installed")
    d = datasets.load(name)
    n, cols, prevalence, density = DOCUMENTED[name]
    assert (d.n_records, d.n_codes, d.kind) == (n, cols, "binary")
    assert abs(float(d.y.mean()) - prevalence) < 1e-4 and abs(float(d.X.mean()) - density) < 1e-3
    assert d.X.sum(axis=0).min() > 0  # no empty column
    assert d.label_name == COHORTS[name].label_name
    assert d.fingerprint == datasets.load(name).fingerprint  # the same matrix every time


def test_flchain_leaves_out_the_cause_of_death():
    """flchain's `chapter` is recorded only for the dead: kept, it would be the label itself."""
    pytest.importorskip("SurvSet", reason="the GPL extra 'survset' is not installed")
    d = datasets.load("flchain")
    assert not any(c.startswith("chapter") for c in d.columns)
    assert sum(c.startswith("sample_yr") for c in d.columns) == 9  # the year once, as a categorical
    coarse = datasets.load("flchain:bins=2,drop=mgus")
    assert "mgus" not in coarse.columns and coarse.n_codes < d.n_codes


def test_missing_survset_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_survset(name, *a, **k):
        if name.startswith("SurvSet"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_survset)
    for name in ("flchain", "dialysis", "smarto", "framingham", "rhc"):
        with pytest.raises(DatasetError, match=rf"dataset '{name}' needs SurvSet.*pip install 'ehrbench\[survset\]'"):
            datasets.load(name)
