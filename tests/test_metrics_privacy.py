"""Privacy metrics on data where the answer is known: a copy of the training records gives
maximal leakage, a fresh sample of the same distribution (what a perfect generator would make)
and structure-free records give chance, and the nearest-neighbour helpers agree with brute force."""

from __future__ import annotations

import numpy as np
import pytest

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
    assert copy["dcr_closer_prob"] > 0.95
    out = m.compute(train, test, fresh)
    assert abs(out["dcr_closer_prob"] - 0.5) < 0.1
    assert 0.85 < out["dcr_ratio"] < 1.15


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
