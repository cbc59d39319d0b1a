"""What the mutant tests share: the CI grid's specs and seeds, the baseline they check against,
and the faults' helpers. Not a test module: ``test_check_mutants.py`` and
``test_check_mutants_medgan.py`` import it (two files, so that a parallel run can take them apart)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.check import check, format_moved, load_baseline, make_baseline
from bench.check.baseline import DEFAULT_BASELINE, StaleBaseline
from bench.check.grid import CI_DATASETS, CI_GENERATORS, CI_SEEDS, ci_config, ci_more_seeds, ci_scopes
from bench.config import job_id
from bench.core.errors import OptionError
from bench.core.options import GeneratorSpec
from bench.provenance import code_version

MEDDIFF = GeneratorSpec.parse(next(g for g in CI_GENERATORS if g.startswith("meddiff"))).label
MEDGAN = GeneratorSpec.parse(next(g for g in CI_GENERATORS if g.startswith("medgan"))).label
TVAE = next(g for g in ci_scopes() if g.startswith("tvae:"))
FAMILIES = ["dimwise_prediction", "column_correlation", "tstr_lr", "label_fidelity"]
EUNOMIA, LABELLED, UNLABELLED = CI_DATASETS  # codes' structure / a label that depends on the codes / toy's structure without it
SEEDS = list(CI_SEEDS)  # the CI grid's eight
# medGAN's sixteen: at eight, and more so at the rule's minimum of five, the bound on its dim-wise
# AUROC exceeds its cap and the structure-lost fault goes unseen
MEDGAN_SEEDS = [*SEEDS, *ci_more_seeds().get(MEDGAN, [])]
PROBE = SEEDS[:5]  # the seeds each of MedDiff's faults is checked on


def committed_matches() -> Path | None:
    """The committed baseline, when it holds this module's grid. Whatever code wrote it: if the
    code has moved its scores since, the unmodified-code test fails, as ``bench check`` does."""
    root = Path(__file__).resolve().parent.parent
    path = root / DEFAULT_BASELINE
    try:
        base = load_baseline(path)
    except (StaleBaseline, OptionError):
        return None
    cfg = base["_config"]
    ok = ({"independent", "real-copy", MEDDIFF, MEDGAN, *ci_scopes()}
          <= set(cfg.generator_labels) and set(SEEDS) <= set(cfg.seeds) and cfg.preset is None
          and set(MEDGAN_SEEDS) <= set(base["_seeds"][MEDGAN]) and set(FAMILIES) <= set(cfg.metrics)
          and set(CI_DATASETS) <= set(cfg.dataset_labels))
    return path if ok else None


def check_part(baseline: Path, generators: str, metrics: str, seeds: list[int] | None = PROBE,
               datasets: str = EUNOMIA):
    """Check part of the grid (seeds None: each generator at all its seeds)."""
    # in this process (jobs=1), where the test's monkeypatched fault reaches the jobs
    res = check(baseline, generators=generators, seeds=seeds, datasets=datasets, metrics=metrics,
                progress=False, jobs=1)
    print(f"\n{generators} / {metrics}: {len(res.moved)} of {res.checked} moved\n{format_moved(res.moved)}")
    return res


def moved_scores(res) -> dict[str, float]:
    return {m.metric: m.tolerances for m in res.moved}


def margin(res) -> str:
    """The failure's margin as the closing notes report it: each moved score of the generator and
    by how many tolerances it moved, largest first."""
    return ", ".join(f"{m.metric} {m.tolerances:.1f}x" for m in sorted(generator_moves(res), key=lambda m: -m.tolerances))


def generator_moves(res) -> list:
    """The moved scores the generator controls: a fault in a generator must move one of these, not
    only a real-data reference score (a model trained on real records), which no generator fault
    can move and float noise between environments can."""
    from metrics import registry

    references = {s.name for cls in registry.resolve(None) for s in cls.scores if s.reference}
    return [m for m in res.moved if m.metric not in references]


def shuffle_within_label(cls: type, monkeypatch: pytest.MonkeyPatch, fraction: float = 1.0,
                         unlabelled: bool = False) -> None:
    """Code columns permuted independently within each label: each code's prevalence per label
    kept, every relation of a shuffled code to the others gone. ``fraction`` < 1 shuffles that
    share of the code columns (a fixed random half at 0.5): a partial loss of structure, the
    regression the check must also see. ``unlabelled``: the data has no label (every column is a
    code, all one group)."""
    original = cls.sample

    def sample(self, n, labels=None):
        X, y = original(self, n, labels) if labels is not None else original(self, n)
        X = np.array(X, copy=True)
        rng = np.random.default_rng(12345)
        # a generator without conditioning carries the label as its last column
        if unlabelled:
            group, cols = np.zeros(len(X)), np.arange(X.shape[1])
        else:
            group, cols = (y, np.arange(X.shape[1])) if y is not None else (X[:, -1] >= 0.5, np.arange(X.shape[1] - 1))
        if fraction < 1.0:
            cols = np.sort(rng.choice(cols, size=round(fraction * len(cols)), replace=False))
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            for j in cols:
                X[rows, j] = X[rng.permutation(rows), j]
        return X, y

    monkeypatch.setattr(cls, "sample", sample)


# Fitted models kept for the faults that only touch what a fitted model samples (the shuffles):
# such a fault and the unmodified code see the same fit, so one fit serves every check in a
# test process. Keyed by class, hyperparameters (the seed among them) and the training data's bytes.
_FITS: dict[tuple, dict] = {}
_NOT_KEPT = ("progress_callback",)  # set per job by the harness: not learned state


def _fingerprint(data) -> str:
    h = hashlib.sha256()
    for part in (getattr(data, "X", data), getattr(data, "y", None)):
        if part is not None:
            a = np.ascontiguousarray(np.asarray(part))
            h.update(str((a.shape, a.dtype)).encode())
            h.update(a.tobytes())
    h.update(repr(list(getattr(data, "columns", []) or [])).encode())
    return h.hexdigest()


def reuse_fits(cls: type, monkeypatch: pytest.MonkeyPatch, label: str | None = None) -> None:
    """``cls`` fits each (hyperparameters, training data) once per test session: a later fit of the
    same restores a copy of the first one's learned state, random generators included, so what
    it samples is what a fresh fit would sample, bit for bit (the unmodified-code test checks
    exactly that against the committed baseline). Only for faults applied after ``fit``.

    Where ``bench check`` has just rerun the CI grid with this code and kept what each job sampled
    (:data:`KEPT_ENV`; ``.ci/run`` runs the check before this tier), a job of ``label`` (the grid's
    spec of ``cls``) fits nothing and samples those records: the same records a fit here would
    sample (one thread either way), without fitting the same models a second time."""
    original_fit, original_sample = cls.fit, cls.sample
    original_diagnostics, original_history = cls.diagnostics, cls.training_history

    def fit(self, data, *args, **kwargs):
        kept = _kept_records(label, self.random_state, data) if label else None
        if kept is not None:
            self._kept_records = kept
            return self
        key = (cls.__qualname__, repr(sorted(self.get_params().items())), _fingerprint(data), args,
               tuple(sorted(kwargs.items())))
        if key in _FITS:
            self.__dict__.update(copy.deepcopy(_FITS[key]))
            return self
        out = original_fit(self, data, *args, **kwargs)
        _FITS[key] = copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in _NOT_KEPT})
        return out

    def sample(self, n, labels=None):
        kept = getattr(self, "_kept_records", None)
        if kept is None:
            return original_sample(self, n, labels) if labels is not None else original_sample(self, n)
        X, y, label_column = kept
        assert len(X) == n, f"the kept records are {len(X)}, the job asks for {n}"
        if labels is not None:
            assert y is not None and np.array_equal(y, labels), "the kept records were sampled for other labels"
        if label_column:  # an unconditional generator's output: the label as its last column
            return np.column_stack([X, y]).astype(np.float32), None
        return X.copy(), None if y is None else y.copy()

    monkeypatch.setattr(cls, "fit", fit)
    monkeypatch.setattr(cls, "sample", sample)
    # a replayed job trained nothing: no diagnostics or history to report
    monkeypatch.setattr(cls, "diagnostics", lambda self: {} if hasattr(self, "_kept_records") else original_diagnostics(self))
    monkeypatch.setattr(cls, "training_history",
                        lambda self: [] if hasattr(self, "_kept_records") else original_history(self))


#: a directory that ``bench check --keep DIR --save-synthetic`` filled (``.ci/run`` sets it for
#: the second tier): each job's sampled records, which :func:`reuse_fits` replays
KEPT_ENV = "EHRBENCH_CHECK_KEPT"


def _kept_records(label: str, seed: int, data) -> tuple[np.ndarray, np.ndarray | None, bool] | None:
    """The records the kept check's job (``label``, the dataset whose codes ``data`` holds, ``seed``)
    sampled, its labels, and whether the generator takes the label as a column; None where there
    is no such check, no such job, or the check ran other code (then the test fits)."""
    root = os.environ.get(KEPT_ENV)
    if not root:
        return None
    label_column = bool(data.columns) and str(data.columns[-1]).startswith("__label__")
    codes = list(data.columns[:-1] if label_column else data.columns)
    for dataset in CI_DATASETS:
        for path in sorted(Path(root).glob(f"*/synthetic/{job_id(label, dataset, seed)}.npz")):
            manifest = json.loads((path.parent.parent / "manifest.json").read_text())
            if manifest.get("code_version") != code_version():
                continue
            with np.load(path, allow_pickle=False) as z:
                if list(z["columns"]) != codes:
                    continue
                y = z["y"] if z["y"].size else None
                return z["X"], y, label_column
    return None


def mutant_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed baseline when it holds the grid the faults need; else one built for them."""
    committed = committed_matches()
    if committed:
        return committed
    tmp = tmp_path_factory.mktemp("mutants")
    cfg = replace(ci_config(), metrics=FAMILIES)  # the CI grid (split pinned), the faults' families only
    path = tmp / "baseline.json"
    make_baseline(cfg, path, tmp / "work", reason="mutant tests", force=True, progress=False,
                  more_seeds={MEDGAN: MEDGAN_SEEDS}, scopes=ci_scopes())
    return path
