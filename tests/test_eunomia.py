from __future__ import annotations

import numpy as np

from bench import datasets
from bench.datasets import eunomia


def test_eunomia_matrix_matches_the_published_shape():
    d = datasets.load("eunomia")
    assert (d.n_records, d.n_codes) == (2694, 243)  # 80 + 113 + 51 concepts, outcome removed
    assert d.kind == "binary"
    assert abs(d.y.mean() - 0.178) < 0.001
    assert "condition:192671" not in d.columns  # the label is not a feature
    assert d.names is not None and "Gastrointestinal hemorrhage" not in d.names
    assert abs((d.X > 0).mean() - 0.125) < 0.002


def test_second_load_comes_from_the_cache(monkeypatch):
    first = datasets.load("eunomia")

    def fail(*a, **k):
        raise AssertionError("the database was queried again")

    monkeypatch.setattr(eunomia, "load_omop", fail)
    second = datasets.load("eunomia")
    assert second.fingerprint == first.fingerprint
    assert np.array_equal(second.X, first.X) and second.names == first.names
