"""Proof of power on the CI grid's medGAN: its output with every code shuffled within each label.

medGAN's structure scores spread widely over seeds at the CI grid's budget (dwpred_auroc_syn std
about 0.033), so the grid gives it sixteen seeds (``CI_MORE_SEEDS`` in bench/check/grid.py) and
this test checks all of them: sixteen medGAN fits, about 2.5 minutes of one test worker on an idle
core. The autoencoder-loss mutant is in its own file, ``test_check_mutants_medgan_loss.py``, so a
parallel run gives the two to different workers. Shared pieces are in ``mutants.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import check_part, moved_scores, mutant_baseline, shuffle_within_label

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # minutes of CI-grid fits: the second tier (docs/ci.md), after the fast one

@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mutant_baseline(tmp_path_factory)


def test_medgan_structure_lost_fails(baseline, monkeypatch):
    from generators.gans.medgan import MedGAN

    shuffle_within_label(MedGAN, monkeypatch)
    res = check_part(baseline, "medgan", "dimwise_prediction,column_correlation", seeds=None)  # all sixteen
    moved = moved_scores(res)
    assert not res.passed
    assert {"dwpred_auroc_syn", "dwpred_auroc_gap"} <= set(moved), moved
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)
