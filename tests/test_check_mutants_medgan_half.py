"""Proof of power on the CI grid's medGAN against a partial loss of structure: half of the code
columns (a fixed random half) permuted within label in what medGAN samples, the other half as
sampled. The full shuffle (``test_check_mutants_medgan.py``) removes every relation between codes;
this one keeps half of them, the regression a check with loose tolerances lets through. Its own
file so that a parallel run gives it its own worker; sixteen medGAN fits, about 2.5 minutes of one
test worker on an idle core. The margin is printed (``-s`` shows it; docs/ci.md records it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import check_part, generator_moves, margin, mutant_baseline, shuffle_within_label

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # minutes of CI-grid fits: the second tier (docs/ci.md), after the fast one


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mutant_baseline(tmp_path_factory)


def test_medgan_half_of_the_codes_shuffled_fails(baseline, monkeypatch):
    from generators.gans.medgan import MedGAN

    shuffle_within_label(MedGAN, monkeypatch, fraction=0.5)
    res = check_part(baseline, "medgan", "dimwise_prediction,column_correlation", seeds=None)  # all sixteen
    print(f"half-shuffle, medGAN: {margin(res)}")
    assert not res.passed and generator_moves(res), format_moved(res.moved)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)
