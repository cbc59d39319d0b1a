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


def _kept_check(root, toy, label: str, seed: int, X, y, version: str) -> None:
    """A directory as ``bench check --keep root --save-synthetic`` leaves it: one run directory
    with its manifest and the records one job sampled."""
    from mutants import LABELLED

    from bench.config import job_id

    run = root / "20260101-000000-abcdef12"
    (run / "synthetic").mkdir(parents=True)
    (run / "manifest.json").write_text(f'{{"code_version": "{version}"}}')
    np.savez_compressed(run / "synthetic" / f"{job_id(label, LABELLED, seed)}.npz", X=X, y=y,
                        columns=np.array(toy.columns))


def test_a_kept_checks_records_replace_the_fit_only_when_the_same_code_sampled_them(toy, tmp_path, monkeypatch):
    """``.ci/run`` runs ``bench check --keep DIR --save-synthetic`` before the mutant tests: a job of
    the grid's spec then fits nothing and samples what the check's job sampled (medGAN takes the
    label as its last column); records the check sampled with other code are never replayed."""
    from mutants import KEPT_ENV

    from bench.provenance import code_version

    label = "medgan:ae_epochs=2,epochs=2"
    X = np.random.default_rng(5).integers(0, 2, (200, toy.n_codes)).astype(np.float32)
    y = np.random.default_rng(6).integers(0, 2, 200)
    fresh_X, _ = _medgan(0).fit(toy.with_label_as_column()).sample(200)
    _FITS.clear()
    monkeypatch.setenv(KEPT_ENV, str(tmp_path / "same"))
    _kept_check(tmp_path / "same", toy, label, 0, X, y, code_version())
    reuse_fits(MedGAN, monkeypatch, label)
    replayed = _medgan(0).fit(toy.with_label_as_column())
    np.testing.assert_array_equal(replayed.sample(200)[0], np.column_stack([X, y]))
    assert replayed.diagnostics() == {} and not _FITS  # nothing was trained
    with pytest.raises(AssertionError, match="kept records are 200"):
        replayed.sample(100)
    monkeypatch.setenv(KEPT_ENV, str(tmp_path / "other"))  # the check ran other code: fit
    _kept_check(tmp_path / "other", toy, label, 0, X, y, "0123456789ab")
    np.testing.assert_array_equal(_medgan(0).fit(toy.with_label_as_column()).sample(200)[0], fresh_X)
    assert len(_FITS) == 1
    _FITS.clear()
