"""Fidelity metrics on data where the answer is known: identical records give the ideal value,
structure-free records score worse than copies, and scores agree with SDMetrics where it computes
the same thing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from bench.datasets.toy import make_toy
from generators.baselines import IndependentGenerator, RealCopyGenerator
from metrics.base import SyntheticData
from metrics.detection import Detection, LatentClusterAnalysis
from metrics.fidelity import (
    ColumnCorrelation,
    ColumnPairFidelity,
    ConceptAbundance,
    DimensionWiseProbability,
    pair_fidelity_matrix,
)
from metrics.prediction import DimensionWisePrediction, fit_masked_logistic
from metrics.support import MaximumMeanDiscrepancy, SupportCoverage, mmd2_unbiased, prdc


def _identical(train: EHRDataset) -> SyntheticData:
    return SyntheticData(train.X.copy(), None if train.y is None else train.y.copy())


def _sample(gen_cls, train: EHRDataset, seed: int = 0) -> SyntheticData:
    X, y = gen_cls(random_state=seed).fit(train).sample(train.n_records, train.y)
    return SyntheticData(X, y)


def _noise(train: EHRDataset, seed: int = 0) -> SyntheticData:
    """Uniform random records: no marginal, no correlation of the real data survives."""
    rng = np.random.default_rng(seed)
    return SyntheticData((rng.random(train.X.shape) < 0.5).astype(np.float32), train.y.copy())


def _three_parts(n: int, d: int, seed: int) -> tuple[EHRDataset, EHRDataset, SyntheticData]:
    """Training and held-out records, and a fresh sample of the same distribution (disjoint parts
    of one draw): what a perfect generator would produce."""
    full = make_toy(n_records=3 * n, n_codes=d, seed=seed)
    fresh = full.subset(np.arange(2 * n, 3 * n))
    return full.subset(np.arange(n)), full.subset(np.arange(n, 2 * n)), SyntheticData(fresh.X, fresh.y)


# ------------------------------------------------------------------------- dimension-wise prob.
def test_dimwise_probability_identical_and_never_generated(toy_split) -> None:
    train, test = toy_split
    m = DimensionWiseProbability()
    ideal = m.compute(train, test, _identical(train))
    assert ideal == {"dwp_pearson_r": 1.0, "dwp_spearman_r": pytest.approx(1.0), "dwp_apd": 0.0, "dwp_rmse": 0.0,
                     "dwp_never_generated": 0.0}
    X = train.X.copy()
    X[:, :3] = 0  # the generator never produces three codes
    out = m.compute(train, test, SyntheticData(X, None))
    assert out["dwp_never_generated"] == 3
    assert out["dwp_apd"] == pytest.approx(train.X[:, :3].mean(0).sum() / train.n_codes)


# ---------------------------------------------------------------------------- column correlation
def test_column_correlation_ideal_and_ordering(toy_split) -> None:
    train, test = toy_split
    m = ColumnCorrelation()
    ideal = m.compute(train, test, _identical(train))
    assert ideal["colcorr_dist"] == pytest.approx(0.0, abs=1e-12)
    assert ideal["colcorr_mad"] == pytest.approx(0.0, abs=1e-12)
    copy = m.compute(train, test, _sample(RealCopyGenerator, train))
    indep = m.compute(train, test, _sample(IndependentGenerator, train))
    assert copy["colcorr_mad"] < indep["colcorr_mad"]
    assert copy["colcorr_dist"] < indep["colcorr_dist"]


def test_column_correlation_matches_numpy_and_handles_constant_columns(toy_split) -> None:
    train, test = toy_split
    syn = _sample(IndependentGenerator, train).X
    syn[:, 4] = 1.0  # a column the generator made constant: correlation 0 with every other
    out = ColumnCorrelation().compute(train, test, SyntheticData(syn, None))
    c_real = np.corrcoef(train.X, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c_syn = np.nan_to_num(np.corrcoef(syn, rowvar=False))
    np.fill_diagonal(c_syn, 1.0)
    d = train.n_codes
    diff = c_real - c_syn
    assert out["colcorr_dist"] == pytest.approx(np.linalg.norm(diff) / d**2, rel=1e-6)
    assert out["colcorr_mad"] == pytest.approx(np.abs(diff[np.triu_indices(d, 1)]).mean(), rel=1e-6)
    assert np.isfinite(list(out.values())).all()


def test_column_correlation_not_applicable_without_variation(toy_split) -> None:
    train, test = toy_split
    flat = EHRDataset(X=np.zeros_like(train.X), y=train.y, columns=train.columns)
    with pytest.raises(MetricNotApplicable, match="non-constant"):
        ColumnCorrelation().compute(flat, test, _identical(train))


# ------------------------------------------------------------------------------ pair fidelity
def _sdmetrics_pair_trends(real: np.ndarray, syn: np.ndarray, threshold: float) -> float:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sdmetrics")
    from sdmetrics.reports.single_table._properties import ColumnPairTrends

    cols = [f"c{j}" for j in range(real.shape[1])]
    meta = {"columns": {c: {"sdtype": "categorical"} for c in cols}}
    prop = ColumnPairTrends()
    prop.real_association_threshold = threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(prop.get_score(pd.DataFrame(real.astype(int), columns=cols),
                                    pd.DataFrame(syn.astype(int), columns=cols), meta))


def test_pair_fidelity_equals_sdmetrics_column_pair_trends() -> None:
    """Both forms to 1e-6: all pairs (the ColumnPairTrends property) and the pairs with real
    Cramer's V > 0.3 (what QualityReport averages), with a constant column and unequal sizes."""
    train, test = make_toy(n_records=300, n_codes=18, seed=5).split(seed=0)
    X = train.X.copy()
    X[:, 7] = 0  # constant in the real data: no association, excluded from the assoc subset
    train = EHRDataset(X=X, y=train.y, columns=train.columns)
    syn = _sample(IndependentGenerator, train, seed=2)
    syn.X[:40, 3] = 1 - syn.X[:40, 3]
    syn = SyntheticData(syn.X[:200], None)
    out = ColumnPairFidelity().compute(train, test, syn)
    assert abs(out["pair_fidelity"] - _sdmetrics_pair_trends(train.X, syn.X, 0.0)) < 1e-6
    assert abs(out["pair_fidelity_assoc"] - _sdmetrics_pair_trends(train.X, syn.X, 0.3)) < 1e-6


def test_pair_fidelity_identical_counts_and_no_associated_pair(toy_split) -> None:
    train, test = toy_split
    m = ColumnPairFidelity()
    assert m.compute(train, test, _identical(train)) == {"pair_fidelity": 1.0, "pair_fidelity_assoc": 1.0}
    # counts are binarised: scaling counts up changes nothing
    counts = make_toy(n_codes=12, kind="count")
    tr, te = counts.split(seed=0)
    a = m.compute(tr, te, SyntheticData(tr.X * 3, None))
    assert a["pair_fidelity"] == pytest.approx(1.0)
    # independent columns: no pair passes the association threshold; the reason is recorded
    rng = np.random.default_rng(0)
    flat = EHRDataset(X=(rng.random((400, 6)) < 0.3).astype(np.float32), y=None, columns=list("abcdef"))
    m2 = ColumnPairFidelity()
    out = m2.compute(flat, flat, SyntheticData(flat.X, None))
    assert "pair_fidelity_assoc" not in out and "Cramer" in out.notes["pair_fidelity_assoc"]


def test_pair_fidelity_matrix_against_direct_counts() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random((50, 4)) < 0.4).astype(np.float32)
    b = (rng.random((30, 4)) < 0.6).astype(np.float32)
    got = pair_fidelity_matrix(a, b)
    for i in range(4):
        for j in range(4):
            tvd = 0.5 * sum(
                abs(np.mean((a[:, i] == u) & (a[:, j] == v)) - np.mean((b[:, i] == u) & (b[:, j] == v)))
                for u in (0, 1) for v in (0, 1)
            )
            assert got[i, j] == pytest.approx(1 - tvd, abs=1e-12)


# --------------------------------------------------------------------------- concept abundance
def test_concept_abundance(toy_split) -> None:
    train, test = toy_split
    m = ConceptAbundance()
    assert m.compute(train, test, _identical(train)) == {"abundance_tvd": 0.0, "abundance_w1": 0.0}
    # one more code in every record: the histogram shifts by exactly one code
    X = train.X.copy()
    for row in X:
        row[np.flatnonzero(row == 0)[0]] = 1
    out = m.compute(train, test, SyntheticData(X, None))
    assert out["abundance_w1"] == pytest.approx(1.0)
    assert 0 < out["abundance_tvd"] <= 1


# ------------------------------------------------------------------------------------------ MMD
def test_mmd_unbiased_estimator_against_brute_force() -> None:
    rng = np.random.default_rng(2)
    X = (rng.random((30, 9)) < 0.3).astype(np.float32)
    Y = (rng.random((20, 9)) < 0.5).astype(np.float32)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        union = np.sum(np.maximum(a, b))
        return 1.0 if union == 0 else float(np.sum(np.minimum(a, b)) / union)

    def mean_k(A: np.ndarray, B: np.ndarray, same: bool) -> float:
        vals = [k(a, b) for i, a in enumerate(A) for j, b in enumerate(B) if not (same and i == j)]
        return float(np.mean(vals))

    expected = mean_k(X, X, True) + mean_k(Y, Y, True) - 2 * mean_k(X, Y, False)
    assert mmd2_unbiased(X, Y, "jaccard") == pytest.approx(expected, abs=1e-6)


def test_mmd_ideal_fresh_and_noise() -> None:
    train, test, fresh = _three_parts(300, 24, 6)
    m = MaximumMeanDiscrepancy()
    ideal = m.compute(train, test, _identical(train))
    # unbiased estimator on identical samples: exactly -2 (1 - mean k) / (n - 1), within (-2/(n-1), 0]
    assert -2 / (train.n_records - 1) < ideal["mmd2"] <= 0
    same = m.compute(train, test, fresh)
    assert abs(same["mmd2"]) < 5e-3 and abs(same["mmd2_holdout"]) < 5e-3
    indep = m.compute(train, test, _sample(IndependentGenerator, train))
    noise = m.compute(train, test, _noise(train))
    assert noise["mmd2"] > 5 * indep["mmd2"] and indep["mmd2"] > same["mmd2"] + 5e-3
    counts = make_toy(kind="count").split(seed=0)
    out = MaximumMeanDiscrepancy().compute(counts[0], counts[1], _identical(counts[0]))  # rbf kernel
    assert abs(out["mmd2"]) < 5e-3 and np.isfinite(out["mmd2_holdout"])


# ----------------------------------------------------------------------------------------- PRDC
def test_prdc_against_brute_force_and_ideal() -> None:
    rng = np.random.default_rng(3)
    real = (rng.random((40, 8)) < 0.3).astype(np.float32)
    fake = (rng.random((35, 8)) < 0.4).astype(np.float32)
    k = 3
    D_rr = ((real[:, None] - real[None]) ** 2).sum(-1)
    D_ff = ((fake[:, None] - fake[None]) ** 2).sum(-1)
    D_fr = ((fake[:, None] - real[None]) ** 2).sum(-1)
    r = np.sort(D_rr + np.diag([np.inf] * 40), axis=1)[:, k - 1]
    s = np.sort(D_ff + np.diag([np.inf] * 35), axis=1)[:, k - 1]
    inside = D_fr <= r[None, :]
    expected = {
        "prdc_precision": inside.any(1).mean(),
        "prdc_recall": (D_fr <= s[:, None]).any(0).mean(),
        "prdc_density": inside.sum() / (k * 35),
        "prdc_coverage": (D_fr.min(0) <= r).mean(),
    }
    got = prdc(real, fake, k)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)


def test_support_coverage_ideal_and_noise(toy_split) -> None:
    train, test = toy_split
    m = SupportCoverage()
    ideal = m.compute(train, test, _identical(train))
    assert ideal["prdc_precision"] == ideal["prdc_recall"] == ideal["prdc_coverage"] == 1.0
    noise = m.compute(train, test, _noise(train))
    assert noise["prdc_precision"] < 0.5 and noise["prdc_coverage"] < 0.5


# ------------------------------------------------------------------------ detection and clusters
def test_detection_ideal_fresh_sample_and_noise() -> None:
    train, test, fresh = _three_parts(300, 24, 11)
    m = Detection()
    assert m.compute(train, test, _identical(train))["detection_auroc"] == pytest.approx(0.5)
    assert abs(m.compute(train, test, fresh)["detection_auroc"] - 0.5) < 0.1
    assert m.compute(train, test, _noise(train))["detection_auroc"] > 0.95


def test_latent_cluster_analysis(toy_split) -> None:
    train, test = toy_split
    m = LatentClusterAnalysis()
    assert m.compute(train, test, _identical(train)) == {"lca_mse": 0.0, "lca_max_dev": 0.0}
    copy = m.compute(train, test, _sample(RealCopyGenerator, train))
    noise = m.compute(train, test, _noise(train))
    assert noise["lca_mse"] > 0.1 and noise["lca_max_dev"] > 0.4
    assert copy["lca_mse"] < 0.01


# ------------------------------------------------------------------------ dimension-wise pred.
def test_fit_masked_logistic_matches_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    data = make_toy(n_records=500, n_codes=20, seed=4)
    X = data.X
    cols = np.array([0, 5, 9, 19])
    W, b = fit_masked_logistic(X, X[:, cols], cols, C=0.5)
    for k, c in enumerate(cols):
        assert W[c, k] == 0.0
        Xk = np.delete(X, c, axis=1)
        ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(Xk, X[:, c])
        ours = Xk @ np.delete(W[:, k], c) + b[k]
        assert np.abs(ours - ref.decision_function(Xk)).max() < 5e-3


def test_dimwise_prediction_ideal_and_noise(toy_split) -> None:
    train, test = toy_split
    m = DimensionWisePrediction()
    ideal = m.compute(train, test, _identical(train))
    assert ideal["dwpred_auroc_r"] == 1.0 and ideal["dwpred_f1_r"] == 1.0
    assert ideal["dwpred_auroc_gap"] == 0.0 and ideal["dwpred_f1_gap"] == 0.0
    assert ideal["dwpred_auroc_real"] > 0.75
    X = _noise(train).X
    X[:, 2] = 0  # a code never generated: constant prediction, no crash, no NaN
    noise = m.compute(train, test, SyntheticData(X, None))
    assert abs(noise["dwpred_auroc_syn"] - 0.5) < 0.06
    assert noise["dwpred_auroc_gap"] > 0.2
    assert np.isfinite(list(noise.values())).all()


def test_dimwise_prediction_caps_columns_deterministically(toy_split) -> None:
    train, test = toy_split
    m = DimensionWisePrediction(max_columns=5)
    cols = m.select_columns(train.X, test.X)
    assert cols.size == 5 and np.array_equal(cols, m.select_columns(train.X, test.X))
    assert m.compute(train, test, _identical(train))["dwpred_auroc_r"] == 1.0


# ------------------------------------------------------------------------------- SDMetrics quality
def test_sdmetrics_quality_identical() -> None:
    pytest.importorskip("sdmetrics")
    from metrics.sdmetrics_quality import SDMetricsQuality

    train, test = make_toy(n_records=200, n_codes=8).split(seed=0)
    out = SDMetricsQuality(max_columns=6).compute(train, test, _identical(train))
    assert out["sdm_quality"] == pytest.approx(1.0)
    assert out["sdm_column_shapes"] == pytest.approx(1.0)


def test_dimwise_probability_spearman_sees_rare_codes_pearson_misses() -> None:
    """Common codes right, rare codes' prevalences shuffled: Pearson stays near 1, Spearman drops."""
    rng = np.random.default_rng(0)
    n, d = 4000, 60
    p_real = np.r_[np.linspace(0.3, 0.6, 5), np.linspace(0.002, 0.03, d - 5)]
    p_syn = p_real.copy()
    p_syn[5:] = rng.permutation(p_syn[5:])
    real = EHRDataset((rng.random((n, d)) < p_real).astype(np.float32), None, [f"c{i}" for i in range(d)])
    syn = SyntheticData((rng.random((n, d)) < p_syn).astype(np.float32), None)
    out = DimensionWiseProbability().compute(real, real, syn)
    assert out["dwp_pearson_r"] > 0.95
    assert out["dwp_spearman_r"] < 0.6
