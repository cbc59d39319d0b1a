"""Clinical-validity metrics: hand-worked estimators, and known answers on data with structure.

The simulated cohort has codes that cause the label (A, C), codes that only travel with them
(B with A, D with C: associated with the label, with no effect of their own once A and C are in
the model), a protective code E, and noise codes of which two co-occur (F, G). A copy of the
training records must agree on every estimate; the independent baseline keeps each code's
prevalence per class, hence the univariate odds ratios, but loses the dependencies: the
multivariable coefficients of B and D and the code-code odds ratios must disagree.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from generators.baselines import IndependentGenerator, RealCopyGenerator
from metrics.base import SyntheticData
from metrics.clinical import EffectEstimates, cell_counts, fit_logistic, log_odds_ratio
from metrics.clinical_subgroups import KnowledgeViolations, SubgroupFidelity

FEMALE_ONLY, MALE_ONLY = "drug:19128065", "procedure:4330583"  # oral contraceptive, vasectomy


def _cohort(n: int = 3000, seed: int = 0, demographics: bool = False) -> EHRDataset:
    rng = np.random.default_rng(seed)

    def bern(p: float | np.ndarray) -> np.ndarray:
        return (rng.random(n) < p).astype(np.float32)

    def copy_of(x: np.ndarray, keep: float, p: float) -> np.ndarray:
        return np.where(rng.random(n) < keep, x, bern(p)).astype(np.float32)

    A = bern(0.3)
    B = copy_of(A, 0.85, 0.15)
    C = bern(0.4)
    D = copy_of(C, 0.8, 0.2)
    E = bern(0.25)
    F = bern(0.3)
    G = copy_of(F, 0.7, 0.3)
    noise = [bern(p) for p in (0.2, 0.35)]
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.5 * A + 1.0 * C - 1.0 * E)))).astype(np.int64)
    cols = [A, B, C, D, E, F, G, *noise]
    columns = [f"condition:{i}" for i in range(len(cols))]
    if demographics:
        female = bern(0.5)
        old = bern(0.4)
        cols += [
            np.where(female == 1, bern(0.4), 0).astype(np.float32),  # female-only code
            np.where(female == 0, bern(0.2), 0).astype(np.float32),  # male-only code
            np.where(female == 1, bern(0.6), bern(0.1)).astype(np.float32),  # more common in women
            np.where(old == 1, bern(0.7), bern(0.05)).astype(np.float32),  # more common when old
            female, 1 - female, 1 - old, old,
        ]
        columns += [FEMALE_ONLY, MALE_ONLY, "condition:100", "condition:101",
                    "sex:F", "sex:M", "age:18-44", "age:65-79"]
    return EHRDataset(X=np.column_stack(cols), y=y, columns=columns, name="cohort")


def _synthetic(generator: type, train: EHRDataset, seed: int = 0) -> SyntheticData:
    gen = generator(random_state=seed).fit(train)
    labels = np.random.default_rng(seed).permutation(np.resize(train.y, train.n_records))
    X, y = gen.sample(train.n_records, labels)
    return SyntheticData(X, y)


@pytest.fixture(scope="module")
def cohort_split() -> tuple[EHRDataset, EHRDataset]:
    return _cohort(demographics=True).split(seed=0)


# ------------------------------------------------------------------------ hand-worked estimators
def test_woolf_and_haldane_by_hand() -> None:
    est, se = log_odds_ratio(np.array([[10, 20, 5, 40], [0, 20, 5, 40]]))
    assert est[0] == pytest.approx(np.log(10 * 40 / (20 * 5)))
    assert se[0] == pytest.approx(np.sqrt(1 / 10 + 1 / 20 + 1 / 5 + 1 / 40))
    assert est[1] == pytest.approx(np.log(0.5 * 40.5 / (20.5 * 5.5)))  # 0.5 added to every cell
    assert se[1] == pytest.approx(np.sqrt(1 / 0.5 + 1 / 20.5 + 1 / 5.5 + 1 / 40.5))
    x = np.array([[1], [1], [0], [0], [1]], dtype=float)
    assert cell_counts(x, np.array([1, 0, 1, 0, 1.0])).tolist() == [[2, 1, 1, 1]]


def test_logistic_on_one_binary_code_is_the_odds_ratio_with_woolf_se() -> None:
    # with a single 0/1 covariate the MLE slope is exactly the log odds ratio and its observed-
    # information standard error is exactly Woolf's: a known answer for the Newton fit and Hessian
    rng = np.random.default_rng(3)
    x = (rng.random(2000) < 0.3).astype(float)
    y = (rng.random(2000) < np.where(x == 1, 0.4, 0.15)).astype(float)
    beta, se, ok = fit_logistic(x[:, None], y, ridge=0.0)
    est, woolf = log_odds_ratio(cell_counts(x[:, None], y))
    assert ok
    assert beta[1] == pytest.approx(est[0], abs=1e-7)
    assert se[1] == pytest.approx(woolf[0], rel=1e-6)


def test_ridge_moves_estimable_coefficients_negligibly() -> None:
    train = _cohort(n=2000, seed=1)
    P = train.X[:, :5]
    b0, s0, _ = fit_logistic(P, train.y, ridge=0.0)
    b1, s1, _ = fit_logistic(P, train.y)
    assert np.max(np.abs(b0 - b1) / s0) < 1e-3


# ------------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_copy_agrees_and_independent_fails_effect_estimates(seed: int) -> None:
    train, test = _cohort(seed=seed).split(seed=seed)
    copy = EffectEstimates().compute(train, test, _synthetic(RealCopyGenerator, train, seed))
    indep = EffectEstimates().compute(train, test, _synthetic(IndependentGenerator, train, seed))
    for fam in ("or", "coef", "pair"):
        assert copy[f"effect_{fam}_ci_overlap"] == 1.0 and copy[f"effect_{fam}_sign_agreement"] == 1.0
    assert copy["effect_std_diff"] < 1.0
    # per-class marginals keep the univariate odds ratios ...
    assert indep["effect_or_ci_overlap"] == 1.0
    # ... but not the adjusted effects (B and D keep their crude association) ...
    assert indep["effect_coef_ci_overlap"] < 0.9
    assert indep["effect_coef_std_diff"] > max(1.3, copy["effect_coef_std_diff"])
    # ... nor the dependencies between codes (A-B, C-D, F-G)
    assert indep["effect_pair_ci_overlap"] < 0.95
    assert indep["effect_pair_std_diff"] > 3 * copy["effect_pair_std_diff"]
    # the headline scores rank the copy first
    assert indep["effect_ci_overlap"] < copy["effect_ci_overlap"]
    assert indep["effect_std_diff"] > 2 * copy["effect_std_diff"]


def test_reversed_effects_are_caught() -> None:
    train, test = _cohort(n=2000, seed=2).split(seed=0)
    flipped = SyntheticData(train.X.copy(), 1 - train.y)  # every association of the label reversed
    out = EffectEstimates().compute(train, test, flipped)
    assert out["effect_or_sign_agreement"] == 0.0 and out["effect_coef_sign_agreement"] == 0.0
    assert out["effect_or_std_diff"] > 3.0 and out["effect_coef_std_diff"] > 2.0
    assert out["effect_pair_ci_overlap"] == 1.0  # code-code dependencies do not involve the label


def test_a_code_separating_the_label_is_not_estimable(cohort_split) -> None:
    train, test = cohort_split
    syn = _synthetic(RealCopyGenerator, train)
    X = syn.X.copy()
    X[syn.y == 1, 0] = 0  # code A never in a positive synthetic record
    out = EffectEstimates().compute(train, test, SyntheticData(X, syn.y))
    assert out["effect_coef_estimable"] < 1.0
    assert out["effect_coef_ci_overlap"] <= out["effect_coef_estimable"]


def test_effect_estimates_not_applicable_without_label_or_support(cohort_split) -> None:
    train, test = cohort_split
    syn = _synthetic(RealCopyGenerator, train)
    with pytest.raises(MetricNotApplicable, match="no label"):
        EffectEstimates().compute(train, test, SyntheticData(syn.X, None))
    unlabelled = EHRDataset(X=train.X, y=None, columns=train.columns)
    with pytest.raises(MetricNotApplicable, match="no label"):
        EffectEstimates().compute(unlabelled, test, syn)
    with pytest.raises(MetricNotApplicable, match="2x2"):
        EffectEstimates(min_cell=10_000).compute(train, test, syn)


def test_demographic_columns_are_not_codes(cohort_split) -> None:
    train, test = cohort_split
    metric = EffectEstimates(max_codes=100)
    from metrics.clinical import choose_codes

    P = (train.X > 0).astype(float)
    codes = np.array([j for j, c in enumerate(train.columns) if not c.startswith(("sex:", "age:"))])
    uni, model = choose_codes(P, train.y.astype(float), codes, metric.min_cell, 100, 15)
    assert not {train.columns[j] for j in uni} & {"sex:F", "sex:M", "age:18-44", "age:65-79"}
    assert {0, 2, 4} <= set(model.tolist())  # the causes and the protective code are in the model


# --------------------------------------------------------------------------- subgroup fidelity
def test_subgroups_real_copy_close_independent_loses_sex_and_age(cohort_split) -> None:
    train, test = cohort_split
    copy = SubgroupFidelity().compute(train, test, _synthetic(RealCopyGenerator, train))
    indep = SubgroupFidelity().compute(train, test, _synthetic(IndependentGenerator, train))
    for key in ("subgroup_label_mad", "subgroup_sex_mad", "subgroup_age_mad", "subgroup_worst_mad"):
        assert copy[key] < 0.02, key
    assert copy["subgroup_worst_mad"] <= copy["subgroup_worst_mad_real"] * 1.5
    assert indep["subgroup_sex_mad"] > 2 * copy["subgroup_sex_mad"]
    assert indep["subgroup_age_mad"] > 2 * copy["subgroup_age_mad"]
    assert indep["subgroup_worst_mad"] > indep["subgroup_worst_mad_real"]


def test_a_missing_subgroup_counts_as_zero_prevalence(cohort_split) -> None:
    train, test = cohort_split
    syn = _synthetic(RealCopyGenerator, train)
    keep = syn.X[:, train.columns.index("sex:F")] == 0  # no woman generated
    out = SubgroupFidelity().compute(train, test, SyntheticData(syn.X[keep], syn.y[keep]))
    assert out["subgroup_share_diff"] > 0.4
    assert out["subgroup_worst_mad"] > 0.1


def test_subgroups_without_demographics_use_the_label_and_say_why() -> None:
    train, test = _cohort(n=1000, seed=4).split(seed=0)
    metric = SubgroupFidelity()
    out = metric.compute(train, test, _synthetic(RealCopyGenerator, train))
    assert "subgroup_label_mad" in out and "subgroup_sex_mad" not in out
    assert "demographics=true" in out.notes["subgroup_sex_mad"]
    unlabelled = EHRDataset(X=train.X, y=None, columns=train.columns)
    with pytest.raises(MetricNotApplicable, match="no subgroup"):
        metric.compute(unlabelled, test, SyntheticData(train.X, None))


# ------------------------------------------------------------------------ knowledge violations
def test_sex_specific_codes_in_the_wrong_sex(cohort_split) -> None:
    train, test = cohort_split
    copy = KnowledgeViolations().compute(train, test, _synthetic(RealCopyGenerator, train))
    indep = KnowledgeViolations().compute(train, test, _synthetic(IndependentGenerator, train))
    assert copy == {"sex_violation_rate": 0.0, "sex_violation_rate_real": 0.0, "sex_conflict_rate": 0.0}
    # independent draws: a woman gets the male-only code w.p. ~0.1, a man the female-only ~0.2
    assert 0.08 < indep["sex_violation_rate"] < 0.25
    assert 0.15 < indep["sex_conflict_rate"] < 0.35  # both sex columns, each ~0.5


def test_knowledge_violations_need_sex_columns_and_listed_codes(cohort_split) -> None:
    train, test = cohort_split
    plain = _cohort(n=600, seed=5).split(seed=0)
    with pytest.raises(MetricNotApplicable, match="sex columns"):
        KnowledgeViolations().compute(*plain, _synthetic(RealCopyGenerator, plain[0]))
    renamed = [c if c not in (FEMALE_ONLY, MALE_ONLY) else c + "0" for c in train.columns]
    other = EHRDataset(X=train.X, y=train.y, columns=renamed)
    with pytest.raises(MetricNotApplicable, match="sex-specific"):
        KnowledgeViolations().compute(other, test, _synthetic(RealCopyGenerator, train))
