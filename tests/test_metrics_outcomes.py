"""The headline utility (TSTR over many outcome codes): headroom between the independent
baseline and the real-trained reference, outcomes chosen on training records only."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.errors import MetricNotApplicable
from bench.datasets.toy import make_toy
from generators.baselines import IndependentGenerator, RealCopyGenerator
from metrics.base import SyntheticData
from metrics.outcomes import MultiOutcomeTSTR, max_abs_phi


@pytest.fixture(scope="module")
def split():
    full = make_toy(n_records=1600, n_codes=30, seed=2, n_groups=6)  # structure beyond the label
    return full.subset(np.arange(1200)), full.subset(np.arange(1200, 1600))


def _sample(gen, train):
    X, y = gen.fit(train).sample(train.n_records, train.y)
    return SyntheticData(X, y)


def test_real_reference_exceeds_independent_by_a_wide_margin(split) -> None:
    train, test = split
    m = MultiOutcomeTSTR(min_count=10)
    indep = m.compute(train, test, _sample(IndependentGenerator(random_state=0), train))
    copy = m.compute(train, test, _sample(RealCopyGenerator(random_state=0), train))
    assert indep["outcomes_trtr_auroc"] == copy["outcomes_trtr_auroc"]  # the reference ignores the generator
    assert indep["outcomes_trtr_auroc"] - indep["outcomes_tstr_auroc"] >= 0.10
    assert copy["outcomes_tstr_auroc"] == pytest.approx(copy["outcomes_trtr_auroc"], abs=0.02)
    assert indep["outcomes_tstr_auroc_gap"] == pytest.approx(
        indep["outcomes_trtr_auroc"] - indep["outcomes_tstr_auroc"])


def test_outcomes_are_chosen_from_training_records_only(split) -> None:
    train, test = split
    m = MultiOutcomeTSTR(min_count=10)
    X_tr = train.X
    from metrics.base import features, presence

    chosen = m.select_outcomes(features(X_tr, train.kind), presence(X_tr))
    assert 0 < chosen.size <= m.n_outcomes
    # a different held-out set cannot change them: select_outcomes never sees it, and compute
    # caches the choice per training set
    other = make_toy(n_records=400, n_codes=30, seed=9, n_groups=6)
    syn = _sample(IndependentGenerator(random_state=0), train)
    m.compute(train, test, syn)
    m.compute(train, other, syn)
    from metrics import outcomes

    keys = [k for k in outcomes._SELECTION_CACHE if k[0] == train.fingerprint]
    assert len(keys) == 1 and np.array_equal(outcomes._SELECTION_CACHE[keys[0]], chosen)


def test_near_duplicate_codes_are_not_outcomes() -> None:
    rng = np.random.default_rng(0)
    Y = (rng.random((500, 4)) < 0.3).astype(float)
    Y[:, 3] = Y[:, 0]  # a twin: predicting it is copying a column
    phi = max_abs_phi(Y)
    assert phi[0] == pytest.approx(1.0) and phi[3] == pytest.approx(1.0) and phi[1] < 0.2
    assert set(MultiOutcomeTSTR(min_count=10).candidates(Y)) == {1, 2}


def test_no_eligible_outcome_is_not_applicable(split) -> None:
    train, test = split
    with pytest.raises(MetricNotApplicable, match="no code"):
        MultiOutcomeTSTR(min_count=10_000).compute(train, test, SyntheticData(train.X, train.y))
