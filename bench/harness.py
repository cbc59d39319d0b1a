"""The grid generators x datasets x seeds: each job trains, samples and is scored in isolation.

A job that fails is recorded in its row's error column and the grid goes on. Each finished job is
written atomically to ``jobs/<id>.json`` before the next starts, so an interrupted run loses
nothing that had finished and a rerun of the same command resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import datasets as dataset_registry
from bench.conditioning import fit_generator, sample_generator
from bench.core.data import EHRDataset
from bench.core.errors import BenchError, MetricNotApplicable, OptionError
from bench.core.options import GeneratorSpec, parse_spec_list
from bench.executors import SerialExecutor, describe_executor, device_info
from bench.io import read_json, write_csv, write_json
from bench.memory import PeakMemory
from bench.provenance import code_version, git_commit, machine, package_versions
from bench.seeding import seed_everything
from generators import registry as generator_registry
from metrics import registry as metric_registry
from metrics.base import Metric, SyntheticData
from metrics.device import use_device

BASELINE = "independent"



@dataclass
class RunConfig:
    """Everything that decides a run's numbers; its hash names the run directory."""

    generators: list[str]
    datasets: list[str] = field(default_factory=lambda: ["eunomia"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    metrics: list[str] = field(default_factory=list)
    preset: str | None = None
    n_synthetic: int | None = None  # None: as many as training records
    split_seed: int = 0
    test_size: float = 0.2
    device: str = "cpu"
    save_synthetic: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def hash(self) -> str:
        keyed = {k: v for k, v in self.to_dict().items() if k != "save_synthetic"}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Job:
    spec: GeneratorSpec
    dataset: str
    seed: int

    @property
    def id(self) -> str:
        return job_id(self.spec.label, self.dataset, self.seed)


def job_id(generator_label: str, dataset: str, seed: int) -> str:
    """File-name-safe id of a job: its record, curves and profile files are named by it."""
    def slug(text: str) -> str:
        return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)

    return f"{slug(generator_label)}__{slug(dataset)}__s{seed}"


@dataclass
class Prepared:
    """A validated grid: generator specs, metric classes and split data, before any file is written."""

    config: RunConfig
    specs: list[GeneratorSpec]
    metric_classes: list[type[Metric]]
    splits: dict[str, tuple[EHRDataset, EHRDataset]]

    @property
    def jobs(self) -> list[Job]:
        return [Job(s, d, seed) for d in self.config.datasets for s in self.specs for seed in self.config.seeds]


def parse_generators(text: str | list[str], add_baseline: bool = True) -> list[GeneratorSpec]:
    """Specs from the CLI text; ``all`` stands for every built-in generator."""
    specs = []
    for spec in parse_spec_list(",".join(text) if isinstance(text, list) else text):
        if spec.name == "all" and not spec.options:
            specs += [GeneratorSpec(n) for n in generator_registry.BUILTIN]
        else:
            specs.append(spec)
    labels = [s.label for s in specs]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise OptionError(f"generator {sorted(dup)[0]!r} is named twice")
    if add_baseline and BASELINE not in {s.name for s in specs}:
        specs.insert(0, GeneratorSpec(BASELINE))
    return specs


# Preset names every built-in generator understands; a generator without one of them (a baseline
# with nothing to scale) runs its defaults under it.
SUITE_PRESETS = ("cpu", "quick")


def prepare(config: RunConfig, data_dir: str | None = None) -> Prepared:
    """Validate every name and option and load the data; raise a BenchError before any work."""
    if not config.seeds:
        raise OptionError("--seeds: at least one seed is needed")
    if len(set(config.seeds)) != len(config.seeds):
        raise OptionError(f"--seeds: a seed is repeated in {config.seeds}")
    if any(s < 0 for s in config.seeds):
        raise OptionError(f"--seeds: seeds must be non-negative, got {config.seeds}")
    if config.n_synthetic is not None and config.n_synthetic <= 0:
        raise OptionError(f"--n-synthetic must be positive, got {config.n_synthetic}")
    if config.device != "cpu":
        device_info(config.device)  # --device cuda without CUDA: a clear error before any work
    specs = parse_spec_list(",".join(config.generators))
    for spec in specs:
        generator_registry.make(spec, random_state=0, preset=config.preset)  # raises on a bad option
    if config.preset:  # a mistyped preset would silently run the published defaults
        known = sorted({*SUITE_PRESETS, *(p for s in specs for p in generator_registry.get_class(s.name).presets)})
        if config.preset not in known:
            raise OptionError(f"unknown --preset {config.preset!r}; valid presets: {', '.join(known)}")
    metric_classes = metric_registry.resolve(config.metrics or None)
    config.metrics = [m.name for m in metric_classes]
    dataset_registry.check_names(config.datasets)
    splits = {}
    for name in config.datasets:
        data = _load_dataset(name, data_dir)
        splits[name] = data.split(seed=config.split_seed, test_size=config.test_size)
    return Prepared(config, specs, metric_classes, splits)


def _load_dataset(name: str, data_dir: str | None) -> EHRDataset:
    import inspect

    if data_dir is not None and "data_dir" in inspect.signature(dataset_registry.load).parameters:
        return dataset_registry.load(name, data_dir=data_dir)
    return dataset_registry.load(name)


# ---------------------------------------------------------------------------------------- one job
def job_key(prep: Prepared, job: Job) -> str:
    train, test = prep.splits[job.dataset]
    params = generator_registry.resolve_params(job.spec, prep.config.preset)
    payload = {
        "generator": job.spec.name,
        "params": {k: repr(v) for k, v in sorted(params.items())},
        "train": train.fingerprint,
        "test": test.fingerprint,
        "seed": job.seed,
        "metrics": prep.config.metrics,
        "n_synthetic": prep.config.n_synthetic,
        "device": prep.config.device,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _make_generator(spec: GeneratorSpec, seed: int, preset: str | None, device: str):
    gen = generator_registry.make(spec, random_state=seed, preset=preset)
    if "device" in gen.param_names() and "device" not in spec.options:
        gen.device = device
    return gen


def run_job(prep: Prepared, job: Job, synthetic_dir: Path | None = None) -> dict[str, Any]:
    """Train, sample and score one (generator, dataset, seed); never raises for a generator's fault."""
    t0 = time.perf_counter()
    record = _run_job(prep, job, synthetic_dir)
    record["wall_s"] = time.perf_counter() - t0
    return record


def _run_job(prep: Prepared, job: Job, synthetic_dir: Path | None) -> dict[str, Any]:
    train, test = prep.splits[job.dataset]
    n = prep.config.n_synthetic or train.n_records
    record: dict[str, Any] = {
        "generator": job.spec.label,
        "dataset": job.dataset,
        "seed": job.seed,
        "status": "ok",
        "error": None,
        "fit_s": None,
        "sample_s": None,
        "peak_mem_mb": None,
        "gpu_peak_mem_mb": None,
        "n_synthetic": n,
        "params": {},
        "diagnostics": {},
        "scores": [],
        "history": [],
    }
    seed_everything(job.seed)
    try:
        gen = _make_generator(job.spec, job.seed, prep.config.preset, prep.config.device)
        record["params"] = {k: _plain(v) for k, v in gen.get_params().items()}
        labels = None
        if gen.supports_conditioning and train.y is not None:
            rng = np.random.default_rng(job.seed)
            labels = rng.permutation(np.resize(train.y, n))  # the training prevalence, exactly
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            fit_generator(gen, train)
            t1 = time.perf_counter()
            X, y = sample_generator(gen, n, train, labels)
            t2 = time.perf_counter()
        record.update(fit_s=t1 - t0, sample_s=t2 - t1, peak_mem_mb=mem.peak_mb, gpu_peak_mem_mb=mem.gpu_peak_mb)
        record["diagnostics"] = {k: _plain(v) for k, v in gen.diagnostics().items()}
        record["history"] = [{k: _plain(v) for k, v in row.items()} for row in gen.training_history()]
        if not np.isfinite(X).all():
            raise BenchError(f"generator {job.spec.label!r} produced non-finite values")
    except Exception as exc:  # the job's error column, not the run's end
        record["status"] = "error"
        record["error"] = _describe_error(exc)
        return record
    if synthetic_dir is not None:
        synthetic_dir.mkdir(parents=True, exist_ok=True)
        tmp = synthetic_dir / f".{job.id}.npz.tmp"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, X=X, y=np.array([]) if y is None else y, columns=np.array(train.columns))
        os.replace(tmp, synthetic_dir / f"{job.id}.npz")
    info = {
        "fit_s": record["fit_s"],
        "sample_s": record["sample_s"],
        "peak_mem_mb": record["peak_mem_mb"],
        **({"gpu_peak_mem_mb": record["gpu_peak_mem_mb"]} if record["gpu_peak_mem_mb"] is not None else {}),
        **record["diagnostics"],
    }
    # per-code prevalence (an aggregate) for the report's dimension-wise probability scatter
    record["profile"] = [round(float(v), 6) for v in (X > 0).mean(axis=0)]
    synthetic = SyntheticData(X=X, y=y, info=info)
    with use_device(_metric_device(prep.config.device)):
        for cls in prep.metric_classes:
            record["scores"].extend(_score(cls, job.seed, train, test, synthetic))
    return record


def _metric_device(requested: str) -> str:
    """The device the metrics run on: ``auto`` resolved here, in the process that runs the job
    (a Ray worker sees only the GPU it was given)."""
    if requested == "cpu":
        return "cpu"
    from generators._torch import resolve_device

    return str(resolve_device(requested))


def _score(cls: type[Metric], seed: int, train: EHRDataset, test: EHRDataset, synthetic: SyntheticData) -> list[dict]:
    note = ""
    values: dict[str, float] = {}
    metric = cls(random_state=seed)
    try:
        values = metric.compute(train, test, synthetic)
    except MetricNotApplicable as exc:
        note = f"not applicable: {exc}"
    except Exception as exc:  # a metric's failure is recorded, the other metrics still run
        note = f"error: {_describe_error(exc)}"
    rows = []
    for s in cls.scores:
        v = values.get(s.name)
        if v is None and not note and cls.category == "speed":
            continue  # an optional measurement (e.g. GPU memory on a CPU) is simply absent
        value = None if v is None or not math.isfinite(float(v)) else float(v)
        missing = getattr(metric, "notes", {}).get(s.name, "not computed")  # why one score is absent
        row_note = note or (missing if v is None else "non-finite value" if value is None else "")
        rows.append({
            "category": cls.category, "family": cls.name, "metric": s.name, "value": value,
            "goal": s.goal, "ideal": s.ideal, "reference": s.reference, "note": row_note,
        })
    return rows


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, BenchError):
        return f"{type(exc).__name__}: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return repr(v)


# ---------------------------------------------------------------------------------------- the run
def find_resumable(root: Path, config: RunConfig) -> Path | None:
    """The newest run directory made by the same configuration, if any."""
    if not root.is_dir():
        return None
    for d in sorted(root.glob(f"*-{config.hash}"), reverse=True):
        if (d / "manifest.json").is_file():
            return d
    return None


def new_run_dir(root: Path, config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    d = root / f"{stamp}-{config.hash}"
    i = 1
    while d.exists():
        d = root / f"{stamp}.{i}-{config.hash}"
        i += 1
    return d


def _finished(path: Path, key: str) -> bool:
    """A job counts as finished when its record exists, matches its key and did not fail."""
    if not path.exists():
        return False
    try:
        rec = read_json(path)
    except (OSError, ValueError):
        return False  # unreadable: recompute
    return rec.get("key") == key and rec.get("status") == "ok"


def run(
    prep: Prepared,
    run_dir: Path,
    command: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    log=None,
    executor=None,
) -> Path:
    """Run the grid into ``run_dir``, skipping jobs already finished there with the same key."""
    from tqdm import tqdm

    from bench.results import write_tables

    log = log or (lambda msg: print(msg, file=sys.stderr))
    manifest_path = run_dir / "manifest.json"
    if manifest_path.exists():
        old = read_json(manifest_path)
        if old.get("config_hash") != prep.config.hash:
            raise OptionError(
                f"{run_dir} holds a run of another configuration ({old.get('config_hash')}); "
                "name another --out directory"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    executor = executor or SerialExecutor()
    manifest = {
        "command": command,
        "config": prep.config.to_dict(),
        "config_hash": prep.config.hash,
        "code_version": code_version(),
        "git_commit": git_commit(),
        "ehrbench_version": package_versions().get("ehrbench"),
        "packages": package_versions(),
        "machine": machine(),
        "datasets": {
            name: {"train": tr.describe(), "test": te.describe()} for name, (tr, te) in prep.splits.items()
        },
        "generators": {
            s.label: {
                "name": s.name,
                "options": s.options,
                "params": {k: _plain(v) for k, v in generator_registry.resolve_params(s, prep.config.preset).items()},
            }
            for s in prep.specs
        },
        "seeds": prep.config.seeds,
        "executor": describe_executor(executor),
        "device": device_info(prep.config.device),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
    }
    write_json(manifest_path, manifest)
    jobs_dir = run_dir / "jobs"
    jobs = prep.jobs
    pending, skipped = [], 0
    for job in jobs:
        if not force and _finished(jobs_dir / f"{job.id}.json", job_key(prep, job)):
            skipped += 1
        else:
            pending.append(job)
    if skipped:
        log(f"{skipped} of {len(jobs)} jobs already finished in {run_dir}: reused")
    done = failed = 0
    bar = tqdm(total=len(pending), desc="jobs", unit="job", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        for job, record in executor.run(prep, pending, run_dir / "synthetic" if prep.config.save_synthetic else None):
            record["key"] = job_key(prep, job)
            history = record.pop("history", [])
            if history:
                write_csv(run_dir / "curves" / f"{job.id}.csv", pd.DataFrame(history))
            profile = record.pop("profile", None)
            if profile is not None:
                train = prep.splits[job.dataset][0]
                write_csv(run_dir / "profiles" / f"{job.id}.csv", pd.DataFrame({
                    "column": train.columns,
                    "real": np.round((train.X > 0).mean(axis=0), 6),
                    "synthetic": profile,
                }))
            write_json(jobs_dir / f"{job.id}.json", record)
            done += 1
            if record["status"] != "ok":
                failed += 1
                bar.write(f"job {job.id} failed: {record['error']}", file=sys.stderr)
            bar.update(1)
            bar.set_postfix_str(job.id[:60])
            write_tables(run_dir, prep.config.datasets, [s.label for s in prep.specs])
    finally:
        bar.close()
        executor.close()
    manifest["status"] = "complete"
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["jobs"] = {"total": len(jobs), "run": done, "reused": skipped, "failed": failed}
    write_tables(run_dir, prep.config.datasets, [s.label for s in prep.specs])
    write_json(manifest_path, manifest)
    log(f"{len(jobs)} jobs: {done} run, {skipped} reused, {failed} failed -> {run_dir}")
    return run_dir
