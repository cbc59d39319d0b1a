"""Proof of power: realistic regressions that ``bench check`` must catch, on the CI grid's models.

Each test applies one fault by monkeypatching (never a flag users see), reruns the check on the
generator and scores the fault concerns, and asserts that the check fails and names the moved
scores; ``test_unmodified_code_passes`` reruns the same grid without a fault. The baseline is
built once per module from the CI grid's own generator specs and seeds (bench/check/grid.py) on
eunomia, the families the faults concern (about 3 minutes of the file's 5-6 on 2 idle cores), or
taken from the committed baseline when it holds that grid. The shuffles touch only what a
fitted model samples, so they sample from the unmodified test's fits (``reuse_fits``: a copy of
each fitted model, restored bit for bit) instead of fitting again.
"""

from __future__ import annotations

import pytest
from mutants import (
    MEDDIFF,
    check_part,
    generator_moves,
    margin,
    moved_scores,
    reuse_fits,
    shuffle_within_label,
)

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # minutes of CI-grid fits: the second tier (docs/ci.md), after the fast one


def test_unmodified_code_passes(ci_baseline, monkeypatch):
    from generators.meddiff import MedDiff

    reuse_fits(MedDiff, monkeypatch, MEDDIFF)  # the shuffles below sample from these same fits
    res = check_part(ci_baseline, f"independent,{MEDDIFF}", "dimwise_prediction,column_correlation")
    assert res.passed and res.checked > 10, format_moved(res.moved)


def test_meddiff_structure_lost_fails(ci_baseline, monkeypatch):
    from generators.meddiff import MedDiff

    reuse_fits(MedDiff, monkeypatch, MEDDIFF)
    shuffle_within_label(MedDiff, monkeypatch)
    res = check_part(ci_baseline, "meddiff", "dimwise_prediction,column_correlation")
    moved = moved_scores(res)
    assert not res.passed
    assert {"dwpred_auroc_syn", "dwpred_auroc_gap"} <= set(moved), moved
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


def test_meddiff_half_of_the_codes_shuffled_fails(ci_baseline, monkeypatch):
    """A partial loss of structure: half of the code columns (a fixed random half) permuted within
    label, the other half as sampled. The margin is printed (``-s`` shows it; docs/ci.md records it)."""
    from generators.meddiff import MedDiff

    reuse_fits(MedDiff, monkeypatch, MEDDIFF)
    shuffle_within_label(MedDiff, monkeypatch, fraction=0.5)
    res = check_part(ci_baseline, "meddiff", "dimwise_prediction,column_correlation")
    print(f"half-shuffle, MedDiff: {margin(res)}")
    assert not res.passed and generator_moves(res), format_moved(res.moved)
    assert "dwpred_auroc_syn" in moved_scores(res), format_moved(res.moved)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


def test_meddiff_half_training_fails(ci_baseline, monkeypatch):
    from generators.meddiff import MedDiff

    original = MedDiff.fit

    def fit(self, data):
        self.epochs = max(1, self.epochs // 2)  # a loop that stops half-way
        return original(self, data)

    monkeypatch.setattr(MedDiff, "fit", fit)
    res = check_part(ci_baseline, "meddiff", "dimwise_prediction,column_correlation")
    assert not res.passed and generator_moves(res)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


def test_metric_scored_on_training_records_fails(ci_baseline, monkeypatch):
    from metrics.utility import TSTRLogistic

    original = TSTRLogistic.compute

    def leaky(self, real_train, real_test, synthetic):
        return original(self, real_train, real_train, synthetic)

    monkeypatch.setattr(TSTRLogistic, "compute", leaky)
    res = check_part(ci_baseline, "independent", "tstr_lr")
    moved = moved_scores(res)
    assert not res.passed
    assert {"trtr_lr_auroc", "trtr_lr_auprc"} <= set(moved), moved
