"""Proof of power for what MedDiff adds over an unconditional generator: class-conditional sampling,
and the same for the other contestant that conditions on the label, EHR-GPT.

The fault: the generator conditions each record on another record's label (the labels it is asked for,
permuted) and returns the labels it was asked for, so every record carries a label its codes were
not generated for; each label's prevalence is unchanged, and so is every relation between codes.
On eunomia the CI-schedule MedDiff barely learns the label (GI hemorrhage: real-trained AUROC
0.64), so the check can only guard the label on the grid's labelled dataset, the simulated toy set
whose label follows each record's latent group (``bench/check/grid.py``). There the fault must
fail TSTR or label fidelity, and the unmodified code must pass the same scores. The fault is in
sampling, so it samples from the unmodified test's fits (``reuse_fits``): five fits on 3,000 x 24
records per generator, about half a minute of one test worker. The margin is printed (``-s``).
"""

from __future__ import annotations

import numpy as np
import pytest
from mutants import LABELLED, check_part, generator_moves, margin, reuse_fits

from bench.check import format_moved

pytestmark = pytest.mark.tier2  # minutes of CI-grid fits: the second tier (docs/ci.md), after the fast one

LABEL_SCORES = "label_fidelity,tstr_lr"



def _classes():
    from generators.ehrgpt import EHRGPT
    from generators.meddiff import MedDiff

    return {"meddiff": MedDiff, "ehrgpt": EHRGPT}


@pytest.mark.parametrize("name", ["meddiff", "ehrgpt"])
def test_unmodified_conditioning_passes(ci_baseline, monkeypatch, name):
    reuse_fits(_classes()[name], monkeypatch)  # the fault below samples from these same fits
    res = check_part(ci_baseline, name, LABEL_SCORES, datasets=LABELLED)
    assert res.passed, format_moved(res.moved)
    assert res.checked >= 2, f"the labelled set's label scores of {name} are not checked"


@pytest.mark.parametrize("name", ["meddiff", "ehrgpt"])
def test_conditioned_on_permuted_labels_fails(ci_baseline, monkeypatch, name):
    cls = _classes()[name]
    reuse_fits(cls, monkeypatch)  # the fault is in what a fitted model samples: the unmodified test's fits
    original = cls.sample

    def sample(self, n, labels=None):
        rng = np.random.default_rng(2024)
        if labels is None:  # labels drawn from the prevalence: return them in another order
            X, y = original(self, n)
            return X, None if y is None else y[rng.permutation(len(y))]
        asked = np.asarray(labels)
        X, _ = original(self, n, asked[rng.permutation(len(asked))])
        return X, asked

    monkeypatch.setattr(cls, "sample", sample)
    res = check_part(ci_baseline, name, LABEL_SCORES, datasets=LABELLED)
    print(f"labels permuted, {name}: {margin(res)}")
    moved = {m.metric for m in generator_moves(res)}
    assert not res.passed and moved & {"label_fidelity_auroc", "tstr_lr_auroc", "tstr_lr_auprc"}, format_moved(res.moved)
    assert all(m.direction == "worse" for m in res.moved if m.goal != "target"), format_moved(res.moved)
