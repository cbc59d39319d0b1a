"""Privacy metrics on data where the answer is known: a copy of the training records gives
maximal leakage, a fresh sample of the same distribution (what a perfect generator would make)
and structure-free records give chance, and the nearest-neighbour helpers agree with brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from bench.datasets.toy import make_toy
from generators.baselines import IndependentGenerator, RealCopyGenerator
from metrics import _distance
from metrics.base import SyntheticData
from metrics.privacy import (
    AttributeInference,
    DistanceMembershipInference,
    DistanceToClosestRecord,
    ExactCopy,
    NearestNeighbourAdversarialAccuracy,
    adversarial_accuracy,
    row_ids,
)
from metrics.privacy_attacks import ReferenceMembershipInference, choose_beta

N_CODES = 60  # wide enough that real records rarely coincide by chance


@pytest.fixture(scope="module")
def parts() -> tuple[EHRDataset, EHRDataset, EHRDataset]:
    """Training, held-out and "fresh" records: three disjoint parts of one sample, so the fresh
    part is what a perfect generator would produce (new patients of the same distribution)."""
    full = make_toy(n_records=1300, n_codes=N_CODES, seed=3)
    return full.subset(np.arange(500)), full.subset(np.arange(500, 800)), full.subset(np.arange(800, 1300))


@pytest.fixture(scope="module")
def wide(parts) -> tuple[EHRDataset, EHRDataset]:
    return parts[0], parts[1]


@pytest.fixture(scope="module")
def fresh(parts) -> SyntheticData:
    return SyntheticData(parts[2].X, parts[2].y)


def _copy(train: EHRDataset) -> SyntheticData:
    X, y = RealCopyGenerator(random_state=0).fit(train).sample(train.n_records)
    return SyntheticData(X, y)


def _independent(train: EHRDataset) -> SyntheticData:
    X, y = IndependentGenerator(random_state=0).fit(train).sample(train.n_records, train.y)
    return SyntheticData(X, y)


def _noisy(records: np.ndarray, p: float, seed: int = 0) -> SyntheticData:
    """Records with each code flipped with probability ``p``: a little noise (p = 0.05) is an
    overfit generator; p = 0.4 is randomised response, a differentially private release."""
    rng = np.random.default_rng(seed)
    X = np.asarray(records, dtype=np.float32).copy()
    flip = rng.random(X.shape) < p
    X[flip] = 1 - X[flip]
    return SyntheticData(X, None)


def _typical(fresh: SyntheticData, share: float = 0.25) -> SyntheticData:
    """The ``share`` of fresh records most likely under the codes' marginal rates: typical
    patients, who sit where the data is dense, near training and held-out patients alike."""
    X = fresh.X
    p = X.mean(axis=0).clip(1e-3, 1 - 1e-3)
    loglik = (X * np.log(p) + (1 - X) * np.log(1 - p)).sum(axis=1)
    return SyntheticData(X[loglik >= np.quantile(loglik, 1 - share)], None)


# ------------------------------------------------------------------------------ distance helpers
def test_nearest_helpers_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_distance, "CHUNK_ELEMENTS", 50)  # many small blocks
    rng = np.random.default_rng(0)
    A = (rng.random((23, 7)) < 0.4).astype(np.float32)
    B = (rng.random((17, 7)) < 0.4).astype(np.float32)
    D = ((A[:, None] - B[None]) ** 2).sum(-1)
    dist, idx = _distance.nearest_neighbours(A, B, k=3)
    for i in range(23):
        order = np.lexsort((np.arange(17), D[i]))[:3]  # ties: lowest index first
        assert np.array_equal(idx[i], order)
        assert np.allclose(dist[i] ** 2, D[i, order])
    assert np.allclose(_distance.nearest_distances(A, B, 2) ** 2, np.sort(D, axis=1)[:, :2])
    DA = ((A[:, None] - A[None]) ** 2).sum(-1) + np.diag([np.inf] * 23)
    assert np.allclose(_distance.nearest_distances(A, A, 1, exclude_self=True)[:, 0] ** 2, DA.min(1))
    a_to_b, b_to_a = _distance.cross_nearest(A, B)
    assert np.allclose(a_to_b**2, D.min(1)) and np.allclose(b_to_a**2, D.min(0))
    best, count = _distance.nearest_with_ties(A, B)
    assert np.array_equal(best, D.min(1)) and np.array_equal(count, (D.min(1)[:, None] == D).sum(1))
    betas = np.array([0.3, 2.0])
    sums = _distance.log_kernel_sums(A, B, betas)
    assert np.allclose(sums, np.log(np.exp(-betas[None, None, :] * D[:, :, None]).sum(1)))
    loo = _distance.log_kernel_sums(A, A, betas, exclude_self=True)
    assert np.allclose(loo, np.log(np.exp(-betas[None, None, :] * DA[:, :, None]).sum(1)))


def test_kernel_bandwidth_maximises_the_leave_one_out_likelihood() -> None:
    rng = np.random.default_rng(1)
    centres = (rng.random((4, 30)) < 0.3).astype(np.float32)
    R = centres[rng.integers(0, 4, 200)]
    R = np.abs(R - (rng.random(R.shape) < 0.05)).astype(np.float32)  # 4 tight clusters
    D = ((R[:, None] - R[None]) ** 2).sum(-1)
    betas = np.array([0.1, 0.5, 1.0, 2.0, 4.0])
    lam = 1 / (1 + np.exp(-betas))
    # Aitchison-Aitken likelihood written out: lambda^(agreements) (1 - lambda)^(disagreements)
    kernel = lam[None, None] ** (30 - D[..., None]) * (1 - lam[None, None]) ** D[..., None]
    kernel[np.arange(200), np.arange(200)] = 0  # leave one out
    loglik = np.log(kernel.sum(1) / 199).mean(0)
    assert choose_beta(R, betas) == betas[np.argmax(loglik)]
    assert choose_beta(R, betas) > choose_beta((rng.random((200, 30)) < 0.3).astype(np.float32), betas)


def test_row_ids_identify_equal_rows() -> None:
    a = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=np.float32)
    b = np.array([[0, 0, 0], [1, 0, 0]], dtype=np.float32)
    ia, ib = row_ids(a, b)
    assert ia[1] == ib[0] and len({*ia.tolist(), ib[1]}) == 4
    ca, cb = row_ids(a * 300, b * 300)  # counts beyond a byte
    assert ca[1] == cb[0] and ca[0] != cb[1]


# -------------------------------------------------------------------------- membership inference
def test_membership_inference(wide, fresh) -> None:
    train, test = wide
    m = DistanceMembershipInference()
    copy = m.compute(train, test, SyntheticData(train.X.copy(), None))
    assert copy["mia_dcr_auroc"] == 1.0 and copy["mia_dcr_best_f1"] == 1.0
    assert m.compute(train, test, _copy(train))["mia_dcr_auroc"] > 0.75
    for syn in (fresh, _independent(train)):
        assert abs(m.compute(train, test, syn)["mia_dcr_auroc"] - 0.5) < 0.08


# ---------------------------------------------------------------------------- attribute inference
def test_attribute_inference(wide, fresh) -> None:
    train, test = wide
    m = AttributeInference()
    copy = m.compute(train, test, SyntheticData(train.X.copy(), None))
    assert copy["aia_f1"] > 0.95 and copy["aia_f1_gain"] > 0.3
    out = m.compute(train, test, fresh)
    assert abs(out["aia_f1_gain"]) < 0.05
    assert 0.1 < out["aia_f1_holdout"] < 0.95


def test_attribute_inference_needs_codes_to_infer(wide) -> None:
    train, test = wide
    X = np.zeros_like(train.X)
    X[:, 0] = 1
    flat = EHRDataset(X=X, y=train.y, columns=train.columns)
    with pytest.raises(MetricNotApplicable, match="undefined"):
        AttributeInference().compute(flat, flat, SyntheticData(X, None))


# ------------------------------------------------------------------------------------------- DCR
def test_dcr_against_holdout(wide, fresh) -> None:
    train, test = wide
    m = DistanceToClosestRecord()
    copy = m.compute(train, test, _copy(train))
    assert copy["dcr_syn_mean"] == 0.0 and copy["dcr_ratio"] == 0.0
    assert copy["dcr_closer_prob"] > 0.99  # every copy's nearest real record is its training twin
    out = m.compute(train, test, fresh)
    assert abs(out["dcr_closer_prob"] - 0.5) < 0.1
    assert 0.85 < out["dcr_ratio"] < 1.15
    assert abs(m.compute(train, test, _independent(train))["dcr_closer_prob"] - 0.5) < 0.1
    assert m.compute(train, test, _noisy(train.X, 0.4))["dcr_closer_prob"] < 0.5 + 0.05  # randomised response
    assert m.compute(train, test, _noisy(train.X, 0.05))["dcr_closer_prob"] > 0.95  # overfit: noisy copies


def test_dcr_share_does_not_mistake_typical_records_for_memorised_ones(wide, fresh) -> None:
    """Typical fresh patients lie close to the training records because most real records are
    training records, not because they were memorised. Comparing their DCR with held-out
    records' DCR (the former dcr_closer_prob) called them a leak; the train/holdout share,
    which pits the training records against the held-out ones, does not."""
    train, test = wide
    typical = _typical(fresh)
    d_syn = _distance.nearest_distances(typical.X, train.X)[:, 0]
    d_hold = _distance.nearest_distances(test.X, train.X)[:, 0]
    former = roc_auc_score(np.r_[np.ones(d_syn.size), np.zeros(d_hold.size)], -np.r_[d_syn, d_hold])
    assert former > 0.6
    assert abs(DistanceToClosestRecord().compute(train, test, typical)["dcr_closer_prob"] - 0.5) < 0.1


# ------------------------------------------------------------------- DOMIAS and GAN-leaks attacks
def test_reference_attacks_detect_copies_and_overfitting(wide) -> None:
    train, test = wide
    m = ReferenceMembershipInference()
    copy = m.compute(train, test, _copy(train))  # resampled: about 63% of members have a twin
    assert min(copy["domias_auroc"], copy["ganleaks_auroc"], copy["ganleaks_cal_auroc"]) > 0.75
    assert copy["mia_strongest"] > 0.25
    overfit = m.compute(train, test, _noisy(train.X, 0.05))  # every member, a few codes flipped
    assert overfit["domias_auroc"] > 0.85 and overfit["mia_strongest"] > 0.4
    assert m.compute(train, test, _noisy(train.X, 0.1))["domias_auroc"] > 0.7
    assert m.compute(train, test, _copy(train)) == copy  # the metric's seed fixes every draw


def test_reference_attacks_give_other_patients_chance(wide, fresh) -> None:
    """A "generator" that returns real patients who were never trained on, and one that keeps
    only the marginal rates, leak nothing: every attack at chance, the strongest about 0."""
    train, test = wide
    m = ReferenceMembershipInference()
    for syn in (fresh, _independent(train), _noisy(train.X, 0.4)):
        out = m.compute(train, test, syn)
        for attack in ("domias_auroc", "ganleaks_auroc", "ganleaks_cal_auroc"):
            assert abs(out[attack] - 0.5) < 0.06, attack
        assert out["mia_strongest"] < 0.06


def test_reference_attacks_are_one_sided(wide) -> None:
    """Copies of the held-out records put the synthetic data on top of the non-member candidates
    and the reference alike: the calibrated attacks fall below chance (the held-out records
    look more 'member' than the members), which earns a generator nothing: the strongest is 0."""
    train, test = wide
    out = ReferenceMembershipInference().compute(train, test, SyntheticData(test.X.copy(), None))
    assert out["ganleaks_auroc"] < 0.2 and out["mia_strongest"] == 0.0
    with pytest.raises(MetricNotApplicable, match="at least 4 held-out"):
        ReferenceMembershipInference().compute(train, EHRDataset(X=test.X[:3], y=None, columns=test.columns), _copy(train))


# ------------------------------------------------------------------------------------------ NNAA
def test_adversarial_accuracy_values() -> None:
    rng = np.random.default_rng(5)
    A = rng.normal(size=(300, 4)).astype(np.float32)
    assert adversarial_accuracy(A, A.copy()) == 0.0  # every record sits on its twin
    B = rng.normal(size=(300, 4)).astype(np.float32)
    assert abs(adversarial_accuracy(A, B) - 0.5) < 0.06
    assert adversarial_accuracy(A, B + 10) == 1.0


def test_nnaa_fresh_and_copy(wide, fresh) -> None:
    train, test = wide
    m = NearestNeighbourAdversarialAccuracy()
    out = m.compute(train, test, fresh)
    assert abs(out["nnaa"] - 0.5) < 0.06 and abs(out["nnaa_privacy_loss"]) < 0.06
    copy = m.compute(train, test, _copy(train))
    assert copy["nnaa"] < 0.4 and copy["nnaa_privacy_loss"] > 0.15


# ------------------------------------------------------------------------------------ exact copy
def test_exact_copy(wide, fresh) -> None:
    train, test = wide
    m = ExactCopy()
    copy = m.compute(train, test, _copy(train))
    assert copy["exact_copy_rate"] == 1.0
    assert copy["exact_copy_excess"] == pytest.approx(1.0 - copy["exact_copy_holdout_rate"])
    assert abs(m.compute(train, test, fresh)["exact_copy_excess"]) < 0.05
    X = fresh.X.copy()
    X[:50] = train.X[:50]  # 50 of 500 synthetic records copied
    assert m.compute(train, test, SyntheticData(X, None))["exact_copy_rate"] == pytest.approx(
        50 / X.shape[0], abs=0.02
    )


@pytest.mark.parametrize(("n_train", "n_test"), [(2000, 400), (400, 2000), (900, 900)])
def test_nnaa_privacy_loss_is_zero_for_one_population_whatever_the_split_sizes(n_train, n_test) -> None:
    """Training, held-out and synthetic records drawn from one population: no memorisation, so the
    loss is about 0 however unequal the parts (each AA is computed on equal-sized samples)."""
    full = make_toy(n_records=n_train + n_test + 1500, n_codes=N_CODES, seed=11)
    train = full.subset(np.arange(n_train))
    test = full.subset(np.arange(n_train, n_train + n_test))
    syn = full.subset(np.arange(n_train + n_test, full.n_records))
    losses = [NearestNeighbourAdversarialAccuracy(random_state=s).compute(train, test, SyntheticData(syn.X, syn.y))
              ["nnaa_privacy_loss"] for s in range(3)]
    assert abs(float(np.mean(losses))) < 0.03
