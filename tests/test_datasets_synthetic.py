"""``synthetic-mimic``: the simulator's promised properties, on small sizes (full sizes are slow tests)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench import datasets
from bench.core.errors import DatasetError
from bench.datasets.synthetic_mimic import make_synthetic_mimic

full_size = pytest.mark.skipif(
    not os.environ.get("EHRBENCH_SLOW"), reason="full-size run: set EHRBENCH_SLOW=1 (and -m slow)"
)


@pytest.fixture(scope="module")
def sim():
    return make_synthetic_mimic(n=6000, d=400, seed=3)


def test_shape_kind_and_sparse_backing(sim):
    assert sim.shape == (6000, 400) and sim.kind == "binary"
    assert sim.is_sparse and not sim.has_dense
    assert "simulated" in sim.source and sim.columns[0] == "sim000"


def test_same_seed_same_data_other_seed_other_data(sim):
    assert make_synthetic_mimic(n=6000, d=400, seed=3).fingerprint == sim.fingerprint
    assert make_synthetic_mimic(n=6000, d=400, seed=4).fingerprint != sim.fingerprint


def test_density_and_codes_per_record_are_mimic_like(sim):
    per_record = np.diff(sim.X_sparse.indptr)
    expected = 11 * np.sqrt(400 / 1071)
    assert abs(per_record.mean() - expected) / expected < 0.2
    assert per_record.min() >= 1  # every record has a code
    assert np.percentile(per_record, 99) > 3 * np.median(per_record)  # heavy-tailed record sizes


def test_prevalence_is_heavy_tailed(sim):
    prev = np.asarray(sim.X_sparse.sum(axis=0)).ravel() / sim.n_records
    top = np.sort(prev)[::-1]
    assert 0.2 < top[0] < 0.6
    assert top[0] > 30 * np.median(prev)


def test_cluster_codes_co_occur(sim):
    """Pairs with far more joint records than independence predicts exist (the clusters)."""
    B = sim.X_sparse
    prev = np.asarray(B.sum(axis=0)).ravel() / sim.n_records
    common = np.argsort(prev)[::-1][:60]
    sub = B[:, common].toarray()
    joint = sub.T @ sub / sim.n_records
    lift = joint / np.outer(prev[common], prev[common])
    np.fill_diagonal(lift, 1.0)
    # every pair is lifted a little by the records' shared activity level; cluster pairs far more
    assert lift.max() > 2.5 * np.median(lift)


def test_label_prevalence_and_signal(sim):
    assert abs(sim.y.mean() - 0.10) < 0.02
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    tr, te = sim.split(0)
    model = LogisticRegression(max_iter=300, C=0.1).fit(tr.X_sparse, tr.y)
    assert roc_auc_score(te.y, model.predict_proba(te.X_sparse)[:, 1]) > 0.6  # a random label: 0.5 +- 0.03


def test_binary_is_the_support_of_counts():
    b = make_synthetic_mimic(n=800, d=100, seed=1)
    c = make_synthetic_mimic(n=800, d=100, seed=1, kind="count")
    assert c.kind == "count" and c.X.max() > 1
    assert np.array_equal(b.X, (c.X > 0).astype(np.float32)) and np.array_equal(b.y, c.y)


def test_registry_options_and_limits():
    d = datasets.load("synthetic-mimic:n=500,d=60,seed=2,prevalence=0.3")
    assert d.shape == (500, 60) and abs(d.y.mean() - 0.3) < 0.08
    with pytest.raises(DatasetError, match="n must be at least 50"):
        datasets.load("synthetic-mimic:n=10")
    with pytest.raises(DatasetError, match=r"prevalence must be in \(0, 1\)"):
        datasets.load("synthetic-mimic:n=100,d=30,prevalence=1.5")


@pytest.mark.slow
@full_size
def test_default_size_is_mimic_shaped():
    d = datasets.load("synthetic-mimic")
    assert d.shape == (46_520, 1_071) and 0.008 < d.density < 0.013


@pytest.mark.slow
@full_size
def test_million_by_five_thousand_stays_sparse():
    d = make_synthetic_mimic(n=1_000_000, d=5_000)
    assert d.shape == (1_000_000, 5_000) and not d.has_dense
    tr, te = d.split(0)
    assert tr.is_sparse and not tr.has_dense and not d.has_dense
    batch, yb = next(tr.iter_batches(1024, shuffle=True))
    assert batch.shape == (1024, 5_000) and yb.shape == (1024,)
