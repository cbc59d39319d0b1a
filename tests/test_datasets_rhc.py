"""``rhc``: the encoding on a hand-made frame (always), and the SurvSet data (when the extra is installed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import datasets
from bench.core.errors import DatasetError
from bench.datasets.rhc import encode_rhc


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": [1, 2, 3, 4],
            "event": [1, 0, 1, 0],
            "time": [10, 200, 30, 180],
            "num_age": [20.0, 40.0, 60.0, np.nan],
            "fac_chfhx": pd.Categorical([0, 1, 0, 0]),
            "fac_dnr1": pd.Categorical(["No", "Yes", "Yes", "No"]),
            "fac_race": pd.Categorical(["white", "black", "other", "white"]),
            "fac_swang1": pd.Categorical(["RHC", "No RHC", "RHC", "RHC"]),
        }
    )


def test_encoding_by_hand():
    d = encode_rhc(_frame(), bins=2)
    # age: median of (20, 40, 60) is 40 -> [20, 40) and [40, 60]; one missing
    assert d.columns == [
        "age:q1", "age:q2", "age:missing", "chfhx", "dnr1",
        "race=black", "race=other", "race=white", "swang1=No RHC", "swang1=RHC",
    ]
    expected = np.array(
        [
            [1, 0, 0, 0, 0, 0, 0, 1, 0, 1],
            [0, 1, 0, 1, 1, 1, 0, 0, 1, 0],
            [0, 1, 0, 0, 1, 0, 1, 0, 0, 1],
            [0, 0, 1, 0, 0, 0, 0, 1, 0, 1],
        ],
        dtype=np.float32,
    )
    assert np.array_equal(d.X, expected)
    assert np.array_equal(d.y, [1, 0, 1, 0]) and d.label_name == "death"
    assert d.names[0] == "age in [20, 40)" and d.names[1] == "age in [40, 60]"
    assert not any(c.startswith(("time", "pid", "event")) for c in d.columns)  # no label leak


def test_treatment_can_be_left_out_and_bins_checked():
    d = encode_rhc(_frame(), bins=2, treatment=False)
    assert not any(c.startswith("swang1") for c in d.columns)
    with pytest.raises(DatasetError, match="bins must be at least 2"):
        encode_rhc(_frame(), bins=1)


def test_rhc_from_survset():
    pytest.importorskip("SurvSet", reason="the GPL extra 'rhc' is not installed")
    d = datasets.load("rhc")
    assert d.n_records == 5735 and d.kind == "binary"
    assert abs(d.y.mean() - 0.649) < 0.001
    assert 100 < d.n_codes < 200
    assert {"chfhx", "cardiohx", "dementhx", "swang1=RHC", "age:q4", "urin1:missing"} <= set(d.columns)
    assert d.X.sum(axis=0).min() > 0  # no empty column
    coarse = datasets.load("rhc:bins=2,treatment=false")
    assert coarse.n_codes < d.n_codes and "swang1=RHC" not in coarse.columns
    assert d.n_codes == 144 and abs(float(d.X.mean()) - 0.229) < 0.001  # as documented
    no_age = datasets.load("rhc:drop=age+cat1")
    assert not any(c.startswith(("age", "cat1")) for c in no_age.columns)
