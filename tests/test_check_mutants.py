"""Proof of power: realistic regressions that ``bench check`` must catch, on the CI grid's models.

Each test applies one fault by monkeypatching (never a flag users see), reruns the check on the
generator and scores the fault concerns, and asserts that the check fails and names the moved
scores; ``test_unmodified_code_passes`` reruns the same grid without a fault. The baseline is
built once per module from the CI grid's own generator specs and seeds (bench/check/grid.py) on
eunomia, the families the faults concern (about 3 minutes of the file's 5-6 on 2 idle cores), or
taken from the committed baseline when it holds that grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.check import check, format_moved, load_baseline, make_baseline
from bench.check.baseline import DEFAULT_BASELINE, StaleBaseline
from bench.check.grid import CI_GENERATORS, CI_SEEDS
from bench.core.errors import OptionError
from bench.core.options import GeneratorSpec
from bench.harness import RunConfig

MEDDIFF = GeneratorSpec.parse(next(g for g in CI_GENERATORS if g.startswith("meddiff"))).label
MEDGAN = GeneratorSpec.parse(next(g for g in CI_GENERATORS if g.startswith("medgan"))).label
FAMILIES = ["dimwise_prediction", "column_correlation", "tstr_lr"]
SEEDS = list(CI_SEEDS)  # the CI grid's eight: with the rule's minimum of five (4 degrees of freedom)
# the bound on medGAN's dim-wise AUROC exceeds its cap and the structure-lost fault goes unseen
PROBE = SEEDS[:5]  # the seeds each fault is checked on
# scores of the relations between codes (the marginals are kept by the structure-lost fault)
STRUCTURE = {"dwpred_auroc_syn", "dwpred_auroc_gap", "dwpred_auroc_r", "dwpred_f1_syn", "dwpred_f1_gap",
             "dwpred_f1_r", "colcorr_dist", "colcorr_mad"}


def _committed_matches() -> Path | None:
    """The committed baseline, when it holds this module's grid. Whatever code wrote it: if the
    code has moved its scores since, the unmodified-code test fails, as ``bench check`` does."""
    root = Path(__file__).resolve().parent.parent
    path = root / DEFAULT_BASELINE
    try:
        base = load_baseline(path)
    except (StaleBaseline, OptionError):
        return None
    cfg = base["_config"]
    ok = ({"independent", "real-copy", MEDDIFF, MEDGAN}
          <= set(cfg.generator_labels) and set(SEEDS) <= set(cfg.seeds) and cfg.preset is None
          and set(FAMILIES) <= set(cfg.metrics))
    return path if ok else None


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    committed = _committed_matches()
    if committed:
        return committed
    tmp = tmp_path_factory.mktemp("mutants")
    cfg = RunConfig(generators=["independent", "real-copy", MEDDIFF, MEDGAN], datasets=["eunomia"],
                    seeds=SEEDS, metrics=FAMILIES)
    path = tmp / "baseline.json"
    make_baseline(cfg, path, tmp / "work", reason="mutant tests", force=True, progress=False)
    return path


def _check(baseline: Path, generators: str, metrics: str, seeds: list[int] = PROBE):
    res = check(baseline, generators=generators, seeds=seeds, metrics=metrics, progress=False)
    print(f"\n{generators} / {metrics}: {len(res.moved)} of {res.checked} moved\n{format_moved(res.moved)}")
    return res


def _moved(res) -> dict[str, float]:
    return {m.metric: m.tolerances for m in res.moved}


def _shuffle_within_label(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every code column permuted independently within each label: each code's prevalence per
    label kept, every relation between codes gone."""
    original = cls.sample

    def sample(self, n, labels=None):
        X, y = original(self, n, labels) if labels is not None else original(self, n)
        X = np.array(X, copy=True)
        rng = np.random.default_rng(12345)
        # a generator without conditioning carries the label as its last column
        group, cols = (y, range(X.shape[1])) if y is not None else (X[:, -1] >= 0.5, range(X.shape[1] - 1))
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            for j in cols:
                X[rows, j] = X[rng.permutation(rows), j]
        return X, y

    monkeypatch.setattr(cls, "sample", sample)


def test_unmodified_code_passes(baseline):
    res = _check(baseline, f"independent,{MEDDIFF}", "dimwise_prediction,column_correlation")
    assert res.passed and res.checked > 10, format_moved(res.moved)


def test_meddiff_structure_lost_fails(baseline, monkeypatch):
    from generators.meddiff import MedDiff

    _shuffle_within_label(MedDiff, monkeypatch)
    res = _check(baseline, "meddiff", "dimwise_prediction,column_correlation")
    moved = _moved(res)
    assert not res.passed
    assert {"dwpred_auroc_syn", "dwpred_auroc_gap"} <= set(moved), moved
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


MEDGAN_UNGUARDED = (
    "known gap (issue 14 stays open): at the CI grid's medGAN setting (published loss, ae_epochs=50, "
    "epochs=60) medGAN's structure scores vary too much over seeds (dwpred_auroc_syn 0.603, seed std 0.037 "
    "over 8 seeds) for the rule: its tolerance 0.137 exceeds the cap 0.10, so they are excluded and this "
    "fault moves no checked score. strict: the day the check catches it, this mark must go"
)


@pytest.mark.xfail(strict=True, reason=MEDGAN_UNGUARDED)
def test_medgan_structure_lost_fails(baseline, monkeypatch):
    from generators.gans.medgan import MedGAN

    _shuffle_within_label(MedGAN, monkeypatch)
    # all eight seeds: medGAN's seed spread leaves its structure scores unchecked at five
    res = _check(baseline, "medgan", "dimwise_prediction,column_correlation", seeds=SEEDS)
    moved = _moved(res)
    assert not res.passed
    assert set(moved) & STRUCTURE, moved


def test_meddiff_half_training_fails(baseline, monkeypatch):
    from generators.meddiff import MedDiff

    original = MedDiff.fit

    def fit(self, data):
        self.epochs = max(1, self.epochs // 2)  # a loop that stops half-way
        return original(self, data)

    monkeypatch.setattr(MedDiff, "fit", fit)
    res = _check(baseline, "meddiff", "dimwise_prediction,column_correlation")
    assert not res.passed
    assert res.moved and all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


def _published_ae_loss() -> bool:
    """Whether medGAN's autoencoder loss is the published one: cross-entropy summed over the codes
    of a record, averaged over the batch."""
    from generators.gans import _losses

    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    recon = torch.tensor([[0.9, 0.2, 0.6], [0.3, 0.1, 0.8]])
    summed = torch.nn.functional.binary_cross_entropy(recon, x, reduction="none").sum(1).mean()
    return math.isclose(float(_losses.reconstruction_loss(recon, x, "binary")), float(summed), rel_tol=1e-5)


@pytest.mark.skipif(not _published_ae_loss(), reason=(
    "generators.gans._losses.reconstruction_loss is not the published medGAN loss (summed over the codes) "
    "on this branch; the faithful-generators change (issue 15) makes it so, and this mutant then averages it"))
@pytest.mark.xfail(strict=True, reason=MEDGAN_UNGUARDED)
def test_medgan_ae_loss_averaged_fails(baseline, monkeypatch):
    from generators.gans import _loop

    def averaged(recon, x, mode):
        if mode == "binary":
            return torch.nn.functional.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), x)
        return torch.nn.functional.mse_loss(recon, x)

    monkeypatch.setattr(_loop, "reconstruction_loss", averaged)  # the name the training loop calls
    res = _check(baseline, "medgan", "dimwise_prediction,column_correlation")
    assert not res.passed and res.moved, "averaging the autoencoder loss moved no score"


def test_metric_scored_on_training_records_fails(baseline, monkeypatch):
    from metrics.utility import TSTRLogistic

    original = TSTRLogistic.compute

    def leaky(self, real_train, real_test, synthetic):
        return original(self, real_train, real_train, synthetic)

    monkeypatch.setattr(TSTRLogistic, "compute", leaky)
    res = _check(baseline, "independent", "tstr_lr")
    moved = _moved(res)
    assert not res.passed
    assert {"trtr_lr_auroc", "trtr_lr_auprc"} <= set(moved), moved
