"""Proof of power on the CI grid's medGAN: structure lost, and the autoencoder loss averaged.

Both are strict xfails (issue 14's known gap: the check cannot yet see these faults at the CI
grid's medGAN budget, docs/ci.md) and marked ``slow``: eight medGAN fits each, about 5 minutes of
a test worker together, which CI's 15 minutes cannot spare for a known failure. Run them with
``python -m pytest -m slow tests/test_check_mutants_medgan.py``; the day the check catches them,
both marks go. Shared pieces are in ``mutants.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from mutants import (
    SEEDS,
    STRUCTURE,
    check_part,
    generator_moves,
    moved_scores,
    mutant_baseline,
    shuffle_within_label,
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mutant_baseline(tmp_path_factory)


MEDGAN_UNGUARDED = (
    "known gap (issue 14 stays open): at the CI grid's medGAN setting (published loss, ae_epochs=50, "
    "epochs=60) medGAN's structure scores vary too much over seeds (dwpred_auroc_syn 0.603, seed std 0.037 "
    "over 8 seeds) for the rule: its tolerance 0.137 exceeds the cap 0.10, so they are excluded and this "
    "fault moves no checked score. strict: the day the check catches it, this mark must go"
)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=MEDGAN_UNGUARDED)
def test_medgan_structure_lost_fails(baseline, monkeypatch):
    from generators.gans.medgan import MedGAN

    shuffle_within_label(MedGAN, monkeypatch)
    # all eight seeds: medGAN's seed spread leaves its structure scores unchecked at five
    res = check_part(baseline, "medgan", "dimwise_prediction,column_correlation", seeds=SEEDS)
    moved = moved_scores(res)
    assert not res.passed
    assert set(moved) & STRUCTURE, moved


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
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=MEDGAN_UNGUARDED)
def test_medgan_ae_loss_averaged_fails(baseline, monkeypatch):
    from generators.gans import _loop

    def averaged(recon, x, mode):
        if mode == "binary":
            return torch.nn.functional.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), x)
        return torch.nn.functional.mse_loss(recon, x)

    monkeypatch.setattr(_loop, "reconstruction_loss", averaged)  # the name the training loop calls
    res = check_part(baseline, "medgan", "dimwise_prediction,column_correlation")
    assert not res.passed and generator_moves(res), "averaging the autoencoder loss moved no score of medGAN's"
