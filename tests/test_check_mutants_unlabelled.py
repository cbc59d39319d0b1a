"""Proof of power on the unlabelled toy set of the CI grid, where nine contestants are guarded:
TVAE's output with every code column shuffled (no label there: each code's prevalence kept, every
relation between codes gone) fails the check on its dim-wise prediction scores. TVAE stands for
the nine: the cheapest to fit (five seeds, about 7 s a fit), scored like the others. Its own file,
so that a parallel run gives it a worker of its own. Shared pieces are in ``mutants.py``.
"""

from __future__ import annotations

import pytest
from mutants import TVAE, UNLABELLED, check_part, generator_moves, margin, reuse_fits, shuffle_within_label

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # CI-grid fits: the second tier (docs/ci.md), after the fast one


def test_tvae_structure_lost_on_the_unlabelled_set_fails(ci_baseline, monkeypatch):
    from generators.gans.sdv import TVAEGenerator

    reuse_fits(TVAEGenerator, monkeypatch, TVAE)  # the kept check's records where .ci/run kept them
    shuffle_within_label(TVAEGenerator, monkeypatch, unlabelled=True)
    res = check_part(ci_baseline, "tvae", "dimwise_prediction", seeds=None, datasets=UNLABELLED)  # its five
    print(f"structure lost, TVAE on the unlabelled toy set: {margin(res)}")
    assert not res.passed and "dwpred_auroc_syn" in {m.metric for m in generator_moves(res)}, format_moved(res.moved)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)
