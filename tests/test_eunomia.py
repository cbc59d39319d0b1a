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


DEFAULT_FINGERPRINT = "81319b9d9a0058b5"  # eunomia before the demographics/cohort options existed


def test_default_fingerprint_is_unchanged_by_the_new_options():
    assert datasets.load("eunomia", use_cache=False).fingerprint == DEFAULT_FINGERPRINT
    off = datasets.load("eunomia:demographics=false", use_cache=False)
    assert off.fingerprint == DEFAULT_FINGERPRINT


def test_eunomia_demographics():
    plain = datasets.load("eunomia")
    d = datasets.load("eunomia:demographics=true")
    assert d.columns[:243] == plain.columns and np.array_equal(d.X[:, :243], plain.X)
    assert d.columns[243:] == ["sex:F", "sex:M", "age:18-44", "age:45-64", "age:65-79", "age:80+"]
    X = d.X[:, 243:]
    assert X[:, :2].sum(axis=0).tolist() == [1373, 1321]  # gender concepts 8532 / 8507
    assert np.all(X[:, :2].sum(axis=1) == 1) and np.all(X[:, 2:].sum(axis=1) == 1)


def test_eunomia_cohorts_split_the_persons_with_the_same_columns():
    from bench.core.align import align_columns

    plain = datasets.load("eunomia")
    old = datasets.load("eunomia:cohort=born_before_1960")
    young = datasets.load("eunomia:cohort=born_from_1960")
    assert old.columns == young.columns == plain.columns
    assert (old.n_records, young.n_records) == (1251, 1443)
    assert align_columns(old, young) is young  # already aligned
    both = np.vstack([old.X, young.X])
    assert sorted(map(bytes, both.astype(np.uint8))) == sorted(map(bytes, plain.X.astype(np.uint8)))
