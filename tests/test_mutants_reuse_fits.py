"""The mutant tests' fit cache (``mutants.reuse_fits``) must be invisible: a model restored from
it samples exactly what a fresh fit of the same hyperparameters and data samples, and another
seed or other data is fitted afresh. If it were not, the shuffle mutants would check faults on
models the baseline never saw."""

from __future__ import annotations

import numpy as np
import pytest
from mutants import _FITS, reuse_fits

from generators.gans.medgan import MedGAN

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _medgan(seed: int) -> MedGAN:
    return MedGAN(ae_epochs=2, epochs=2, batch_size=50, ae_batch_size=50, random_state=seed)


def test_a_reused_fit_samples_what_a_fresh_fit_samples(toy, monkeypatch):
    fresh_X, _ = _medgan(0).fit(toy).sample(200)
    _FITS.clear()
    reuse_fits(MedGAN, monkeypatch)
    first = _medgan(0).fit(toy)
    assert len(_FITS) == 1
    first_X, _ = first.sample(200)
    again_X, _ = _medgan(0).fit(toy).sample(200)  # restored, not fitted
    assert len(_FITS) == 1
    np.testing.assert_array_equal(first_X, fresh_X)
    np.testing.assert_array_equal(again_X, fresh_X)
    other_X, _ = _medgan(1).fit(toy).sample(200)  # another seed: a fit of its own
    assert len(_FITS) == 2 and not np.array_equal(other_X, fresh_X)
    _FITS.clear()
