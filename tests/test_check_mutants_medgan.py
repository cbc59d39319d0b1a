"""Proof of power on the CI grid's medGAN: its output with every code, then half of the codes,
shuffled within each label.

medGAN's structure scores spread widely over seeds at the CI grid's budget (dwpred_auroc_syn std
about 0.033), so the grid gives it sixteen seeds (``CI_MORE_SEEDS`` in bench/check/grid.py) and
these tests check all of them. Both faults touch only what a fitted medGAN samples, so the
sixteen fits are made once and the second test samples from copies of them (``reuse_fits``,
restored bit for bit): about 2.5 minutes of one test worker on an idle core for both; under
``.ci/run`` none is made, both scoring the records ``bench check`` has just sampled. The
autoencoder-loss mutant, which must fit again, is in its own file,
``test_check_mutants_medgan_loss.py``, so a parallel run gives the two files to different workers.
Shared pieces are in ``mutants.py``.
"""

from __future__ import annotations

import pytest
from mutants import (
    MEDGAN,
    check_part,
    generator_moves,
    margin,
    moved_scores,
    reuse_fits,
    shuffle_within_label,
)

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # minutes of CI-grid fits: the second tier (docs/ci.md), after the fast one



def test_medgan_structure_lost_fails(ci_baseline, monkeypatch):
    from generators.gans.medgan import MedGAN

    reuse_fits(MedGAN, monkeypatch, MEDGAN)
    shuffle_within_label(MedGAN, monkeypatch)
    res = check_part(ci_baseline, "medgan", "dimwise_prediction,column_correlation", seeds=None)  # all sixteen
    moved = moved_scores(res)
    assert not res.passed
    assert {"dwpred_auroc_syn", "dwpred_auroc_gap"} <= set(moved), moved
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)


def test_medgan_half_of_the_codes_shuffled_fails(ci_baseline, monkeypatch):
    """A partial loss of structure: half of the code columns (a fixed random half) permuted within
    label in what medGAN samples, the other half as sampled; the full shuffle above removes every
    relation between codes, this keeps half of them, the regression a check with loose
    tolerances lets through. The margin is printed (``-s`` shows it; docs/ci.md records it)."""
    from generators.gans.medgan import MedGAN

    reuse_fits(MedGAN, monkeypatch, MEDGAN)
    shuffle_within_label(MedGAN, monkeypatch, fraction=0.5)
    res = check_part(ci_baseline, "medgan", "dimwise_prediction,column_correlation", seeds=None)  # all sixteen
    print(f"half-shuffle, medGAN: {margin(res)}")
    assert not res.passed and generator_moves(res), format_moved(res.moved)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)
