"""label_fidelity: a real-trained classifier on synthetic records vs the labels they were made for."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics import registry
from metrics.base import SyntheticData
from metrics.label_fidelity import LabelFidelity


def test_registered_with_its_contract() -> None:
    cls = registry.get_class("label_fidelity")
    assert cls is LabelFidelity
    assert cls.name == "label_fidelity" and cls.category == "utility" and cls.needs_label
    assert {s.name for s in cls.scores} >= {"label_fidelity_auroc", "label_fidelity_real_auroc", "label_fidelity_gap"}


def test_real_held_out_records_match_the_reference(toy_split: tuple[EHRDataset, EHRDataset]) -> None:
    train, test = toy_split
    out = LabelFidelity().compute(train, test, SyntheticData(test.X, test.y))
    assert out["label_fidelity_auroc"] == pytest.approx(out["label_fidelity_real_auroc"])
    assert out["label_fidelity_gap"] == pytest.approx(0.0)
    assert out["label_fidelity_real_auroc"] > 0.7  # the toy label is predictable
    assert out["label_fidelity_positive_rate"] > out["label_fidelity_negative_rate"]


def test_labels_that_ignore_the_records_score_near_chance(toy_split: tuple[EHRDataset, EHRDataset]) -> None:
    train, test = toy_split
    rng = np.random.default_rng(0)
    X = np.vstack([train.X, test.X])
    y = rng.permutation(np.r_[train.y, test.y])
    out = LabelFidelity().compute(train, test, SyntheticData(X, y))
    assert abs(out["label_fidelity_auroc"] - 0.5) < 0.08
    assert out["label_fidelity_gap"] < -0.15


def test_flipped_labels_score_below_chance(toy_split: tuple[EHRDataset, EHRDataset]) -> None:
    train, test = toy_split
    out = LabelFidelity().compute(train, test, SyntheticData(test.X, 1 - test.y))
    assert out["label_fidelity_auroc"] == pytest.approx(1 - out["label_fidelity_real_auroc"])


def test_not_applicable_with_a_reason(toy_split: tuple[EHRDataset, EHRDataset]) -> None:
    train, test = toy_split
    metric = LabelFidelity()
    with pytest.raises(MetricNotApplicable, match="no label"):
        metric.compute(train, test, SyntheticData(test.X, None))
    with pytest.raises(MetricNotApplicable, match="one class"):
        metric.compute(train, test, SyntheticData(test.X, np.ones(test.n_records, dtype=int)))
    unlabelled = EHRDataset(X=train.X, y=None, columns=train.columns)
    with pytest.raises(MetricNotApplicable, match="real data has no label"):
        metric.compute(unlabelled, test, SyntheticData(test.X, test.y))
