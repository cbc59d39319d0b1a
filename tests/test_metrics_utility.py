"""Utility metrics: identical training data reproduces the real-trained reference exactly,
labels unrelated to the records give chance, and unusable labels are refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.errors import MetricNotApplicable
from metrics.base import SyntheticData
from metrics.utility import TSTRLogistic, TSTRXGBoost, overlap_k, top_k


@pytest.mark.parametrize("cls", [TSTRLogistic, TSTRXGBoost])
def test_tstr_identical_data_matches_trtr(cls, toy_split) -> None:
    train, test = toy_split
    m = cls().model
    out = cls().compute(train, test, SyntheticData(train.X.copy(), train.y.copy()))
    assert out[f"tstr_{m}_auroc"] == out[f"trtr_{m}_auroc"] > 0.7
    assert out[f"tstr_{m}_auroc_gap"] == 0.0 and out[f"tstr_{m}_auprc_gap"] == 0.0
    assert out[f"tstr_{m}_importance_overlap"] == 1.0
    assert set(out) == {s.name for s in cls.scores}


@pytest.mark.parametrize("cls", [TSTRLogistic, TSTRXGBoost])
def test_tstr_random_labels_give_chance(cls, toy_split) -> None:
    train, test = toy_split
    rng = np.random.default_rng(0)
    X = (rng.random(train.X.shape) < 0.3).astype(np.float32)
    out = cls().compute(train, test, SyntheticData(X, rng.integers(0, 2, train.n_records)))
    m = cls().model
    assert abs(out[f"tstr_{m}_auroc"] - 0.5) < 0.12
    assert out[f"tstr_{m}_auroc_gap"] > 0.15
    assert out[f"tstr_{m}_importance_overlap"] < 1.0


def test_tstr_refuses_unusable_labels(toy_split) -> None:
    train, test = toy_split
    with pytest.raises(MetricNotApplicable, match="one class"):
        TSTRLogistic().compute(train, test, SyntheticData(train.X, np.zeros(train.n_records, dtype=int)))
    with pytest.raises(MetricNotApplicable, match="no label"):
        TSTRXGBoost().compute(train, test, SyntheticData(train.X, None))


def test_top_k_ties_and_overlap_size() -> None:
    assert top_k(np.array([0.0, 2.0, 2.0, 1.0, 0.0]), 3).tolist() == [1, 2, 3]
    assert overlap_k(1000) == 25 and overlap_k(24) == 12 and overlap_k(1) == 1
