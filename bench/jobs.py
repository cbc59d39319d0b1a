"""One job: train, sample and score one (generator, dataset, seed), in isolation.

The generator fits on the job's train part only (the validation part is reserved for tuning);
the metrics score against the job's test part, or, for a job scored on another dataset, that
dataset's parts (:mod:`bench.splits`).

:func:`run_job` is the job function every executor receives; it never raises for a generator's
or a metric's fault: the failure goes into the record's ``error`` (or the score's ``note``) and
the grid goes on.

Progress: an executor that can show it passes ``progress(done, total, unit)`` for the job; the
job attaches it to the generator (:attr:`generators.base.Generator.progress_callback`, which the
training loops call, throttled) and reports its own stages (``fit``, ``sample``, ``metric <name> i/n``).
It only displays: nothing it receives reaches the record, and no number depends on it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from bench.conditioning import fit_generator, sample_generator
from bench.config import Job, Prepared
from bench.core.data import EHRDataset
from bench.core.errors import BenchError, MetricNotApplicable, describe_error
from bench.core.io import atomic_file
from bench.core.progress import Progress, ProgressCallback
from bench.core.threads import current_threads
from bench.memory import PeakMemory
from bench.records import JobRecord, plain
from bench.seeding import seed_everything
from metrics.base import Metric, SyntheticData, notes_of
from metrics.device import use_device


def run_job(prep: Prepared, job: Job, synthetic_dir: Path | None = None,
            progress: ProgressCallback | None = None) -> JobRecord:
    """Train, sample and score one (generator, dataset, seed); never raises for a generator's fault.

    ``progress``, when given, hears how far the job has come (see the module's docstring)."""
    t0 = time.perf_counter()
    record = _run_job(prep, job, synthetic_dir, Progress(progress))
    record.wall_s = time.perf_counter() - t0
    return record


def _run_job(prep: Prepared, job: Job, synthetic_dir: Path | None, report: Progress) -> JobRecord:
    data = prep.job_data(job)
    train = data.train
    n = prep.n_synthetic(job)
    record = JobRecord(job.spec.label, job.dataset, job.seed, n)
    record.threads = current_threads()  # the executor's budget for the job: a number's thread count
    seed_everything(job.seed)
    try:
        gen = prep.plan(job).build(job.seed)  # the run's --device is among its params
        if report:
            gen.progress_callback = report
            report(0, 0, "fit")
        record.params = {k: plain(v) for k, v in gen.get_params().items()}
        labels = None
        if gen.supports_conditioning and train.y is not None:
            rng = np.random.default_rng(job.seed)
            labels = rng.permutation(np.resize(train.y, n))  # the training prevalence, exactly
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            fit_generator(gen, train)
            t1 = time.perf_counter()
            report(0, 0, "sample")
            X, y = sample_generator(gen, n, train, labels)
            t2 = time.perf_counter()
        gen.progress_callback = None  # the generator keeps no reference to the executor's pipe
        record.fit_s, record.sample_s = t1 - t0, t2 - t1
        record.peak_mem_mb, record.gpu_peak_mem_mb = mem.peak_mb, mem.gpu_peak_mb
        record.diagnostics = {k: plain(v) for k, v in gen.diagnostics().items()}
        record.history = [{k: plain(v) for k, v in row.items()} for row in gen.training_history()]
        if not np.isfinite(X).all():
            raise BenchError(f"generator {job.spec.label!r} produced non-finite values")
    except Exception as exc:  # the job's error column, not the run's end
        record.status = "error"
        record.error = describe_error(exc)
        return record
    if synthetic_dir is not None and not gen.releases_training_records:  # real rows stay in the loader
        with atomic_file(synthetic_dir / f"{job.id}.npz", "wb", fsync=False) as fh:
            np.savez_compressed(fh, X=X, y=np.array([]) if y is None else y, columns=np.array(train.columns))
    info = {
        "fit_s": record.fit_s,
        "sample_s": record.sample_s,
        "peak_mem_mb": record.peak_mem_mb,
        **({"gpu_peak_mem_mb": record.gpu_peak_mem_mb} if record.gpu_peak_mem_mb is not None else {}),
        **record.diagnostics,
    }
    # per-code prevalence (an aggregate) for the report's dimension-wise probability scatter
    record.profile = [round(float(v), 6) for v in (X > 0).mean(axis=0)]
    synthetic = SyntheticData(X=X, y=y, info=info)
    with use_device(_metric_device(prep.config.device)):
        for i, cls in enumerate(prep.metric_classes):
            report(i, len(prep.metric_classes), f"metric {cls.name}")
            if data.transported and cls.category == "privacy":
                record.scores.extend(not_applicable_rows(cls, TRANSPORTED_PRIVACY))
                continue
            record.scores.extend(score_rows(cls, job.seed, data.score_train, data.score_test, synthetic))
    return record


TRANSPORTED_PRIVACY = ("not applicable: scored on another dataset than the one trained on; the generator "
                       "saw none of its records, so privacy is scored in the training dataset's own job")


def not_applicable_rows(cls: type[Metric], note: str) -> list[dict]:
    """A metric's rows without values, each saying why."""
    return [{"category": cls.category, "metric": cls.name, "score": s.name, "value": None, "goal": s.goal,
             "ideal": s.ideal, "reference": s.reference, "note": note} for s in cls.scores]


def _metric_device(requested: str) -> str:
    """The device the metrics run on: ``auto`` resolved here, in the process that runs the job
    (a Ray worker sees only the GPU it was given)."""
    if requested == "cpu":
        return "cpu"
    from generators._torch import resolve_device

    return str(resolve_device(requested))


def score_rows(cls: type[Metric], seed: int, train: EHRDataset, test: EHRDataset,
               synthetic: SyntheticData) -> list[dict]:
    """One metric's rows of ``scores.csv``: a value per score, or a note saying why there is none."""
    note = ""
    values: dict[str, float] = {}
    metric = cls(random_state=seed)
    try:
        values = metric.compute(train, test, synthetic)
    except MetricNotApplicable as exc:
        note = f"not applicable: {exc}"
    except Exception as exc:  # a metric's failure is recorded, the other metrics still run
        note = f"error: {describe_error(exc)}"
    rows = []
    for s in cls.scores:
        v = values.get(s.name)
        if v is None and not note and cls.category == "speed":
            continue  # an optional measurement (e.g. GPU memory on a CPU) is simply absent
        value = None if v is None or not math.isfinite(float(v)) else float(v)
        missing = notes_of(values).get(s.name, "not computed")  # why one score is absent: the result says
        row_note = note or (missing if v is None else "non-finite value" if value is None else "")
        rows.append({
            "category": cls.category, "metric": cls.name, "score": s.name, "value": value,
            "goal": s.goal, "ideal": s.ideal, "reference": s.reference, "note": row_note,
        })
    return rows
