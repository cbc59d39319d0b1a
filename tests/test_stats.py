"""Known answers for the statistics the verdict rests on (bench.stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.stats import (
    holm,
    min_detectable_difference,
    min_detectable_effect,
    paired_difference,
    paired_power,
    pooled_difference,
)


def test_power_of_the_paired_t_test_matches_the_textbook_figures() -> None:
    # REFERENCE: n = 3, d = 1: 0.18; n = 10, d = 1: 0.80
    assert paired_power(3, 1.0) == pytest.approx(0.18, abs=0.01)
    assert paired_power(10, 1.0) == pytest.approx(0.80, abs=0.01)
    assert min_detectable_effect(10) == pytest.approx(1.0, abs=0.01)
    assert paired_power(40, min_detectable_effect(40)) == pytest.approx(0.8, abs=1e-6)
    assert np.isnan(min_detectable_effect(1))


def test_detectable_difference_scales_with_the_spread() -> None:
    d = np.array([0.1, -0.1, 0.2, 0.0, 0.05, -0.05, 0.15, 0.1, 0.0, -0.02])
    assert min_detectable_difference(d) == pytest.approx(min_detectable_effect(10) * d.std(ddof=1))
    assert min_detectable_difference(2 * d) == pytest.approx(2 * min_detectable_difference(d))


def test_holm_step_down_known_answer() -> None:
    # sorted 0.01, 0.02, 0.04 with m = 3: 0.03, 0.04, 0.04 (monotone)
    got = holm({"a": 0.04, "b": 0.01, "c": 0.02})
    assert got == pytest.approx({"a": 0.04, "b": 0.03, "c": 0.04})
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0}
    nan = holm({"a": float("nan"), "b": 0.01})
    assert np.isnan(nan["a"]) and nan["b"] == pytest.approx(0.01)  # a nan is not a test: m = 1


def test_paired_difference_interval_and_p() -> None:
    d = np.array([0.10, 0.12, 0.09, 0.11, 0.10])
    r = paired_difference(d)
    assert r.mean == pytest.approx(0.104) and r.ci_low < 0.104 < r.ci_high and r.ci_low > 0
    assert r.p_value < 0.001 and r.n == 5
    tie = paired_difference(np.zeros(4))
    assert tie.p_value == 1.0 and tie.mean == 0.0


def test_pooled_difference_removes_dataset_effects() -> None:
    """Two datasets whose differences sit at +0.1 and +0.3 with tiny noise: the pooled estimate is
    their mean and its interval is narrow, because the dataset offsets are fixed effects, not noise."""
    rng = np.random.default_rng(0)
    diffs = np.r_[0.1 + rng.normal(0, 0.005, 10), 0.3 + rng.normal(0, 0.005, 10)]
    groups = pd.Series(["a"] * 10 + ["b"] * 10)
    r = pooled_difference(pd.Series(diffs), groups)
    assert r.mean == pytest.approx(0.2, abs=0.005) and r.df == 18
    assert r.ci_high - r.ci_low < 0.02  # a pooled t over blocks without the fixed effect would be ~0.2 wide
    naive = paired_difference(diffs)
    assert naive.ci_high - naive.ci_low > 5 * (r.ci_high - r.ci_low)
