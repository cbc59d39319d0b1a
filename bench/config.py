"""A run's configuration and its validated grid: everything is checked here, before any file is
written, and each spec is parsed and resolved once.

``RunConfig`` holds typed specs (:class:`GeneratorSpec`, :class:`DatasetSpec`); its ``to_dict``
is the manifest's ``config`` (labels, as the command line wrote them) and its hash names the run
directory. ``prepare`` turns it into a :class:`Prepared` grid: each generator's class and resolved
hyperparameters, the metric classes, the split data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bench import datasets as dataset_registry
from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, GeneratorSpec
from bench.provenance import code_version, device_info
from bench.records import JobRecord
from generators import registry as generator_registry
from generators.base import Generator
from metrics import registry as metric_registry
from metrics.base import Metric

BASELINE = "independent"

# Preset names every built-in generator understands; a generator without one of them (a baseline
# with nothing to scale) runs its defaults under it.
SUITE_PRESETS = ("cpu", "quick")


def _specs(items: list, spec_type: type) -> list:
    """Typed specs; a text item (a label from a stored configuration) is parsed here, once."""
    return [spec_type.parse(x) if isinstance(x, str) else x for x in items]


@dataclass
class RunConfig:
    """Everything that decides a run's numbers; its hash names the run directory."""

    generators: list[GeneratorSpec]
    datasets: list[DatasetSpec] = field(default_factory=lambda: [DatasetSpec("eunomia")])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    metrics: list[str] = field(default_factory=list)
    preset: str | None = None
    n_synthetic: int | None = None  # None: as many as training records
    split_seed: int = 0
    test_size: float = 0.2
    device: str = "cpu"
    save_synthetic: bool = False

    def __post_init__(self) -> None:
        self.generators = _specs(list(self.generators), GeneratorSpec)
        self.datasets = _specs(list(self.datasets), DatasetSpec)

    @property
    def dataset_labels(self) -> list[str]:
        return [d.label for d in self.datasets]

    @property
    def generator_labels(self) -> list[str]:
        return [g.label for g in self.generators]

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``config``: plain JSON, specs as their labels."""
        return {
            "generators": self.generator_labels, "datasets": self.dataset_labels, "seeds": list(self.seeds),
            "metrics": list(self.metrics), "preset": self.preset, "n_synthetic": self.n_synthetic,
            "split_seed": self.split_seed, "test_size": self.test_size, "device": self.device,
            "save_synthetic": self.save_synthetic,
        }

    @property
    def hash(self) -> str:
        keyed = {k: v for k, v in self.to_dict().items() if k != "save_synthetic"}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Job:
    spec: GeneratorSpec
    dataset: str  # the dataset spec's label: the key of its split in ``Prepared.splits``
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
class GeneratorPlan:
    """One generator of the grid, resolved once: its class and hyperparameters (published
    defaults, then the preset, then the user's options). The class travels with the grid, so a
    job's process needs no registry (a generator registered at run time included)."""

    spec: GeneratorSpec
    cls: type[Generator]
    params: dict[str, Any]

    def build(self, random_state: int | None, device: str = "cpu") -> Generator:
        gen = self.cls(**self.params, random_state=random_state)
        gen.validate_params()  # raises on a bad option
        if "device" in gen.param_names() and "device" not in self.spec.options:
            gen.device = device
        return gen


@dataclass
class Prepared:
    """A validated grid: generator plans, metric classes and split data, before any file is written."""

    config: RunConfig
    plans: list[GeneratorPlan]
    metric_classes: list[type[Metric]]
    splits: dict[str, tuple[EHRDataset, EHRDataset]]

    @property
    def specs(self) -> list[GeneratorSpec]:
        return [p.spec for p in self.plans]

    @property
    def jobs(self) -> list[Job]:
        return [Job(p.spec, d, seed) for d in self.splits for p in self.plans for seed in self.config.seeds]

    def plan(self, job: Job) -> GeneratorPlan:
        return next(p for p in self.plans if p.spec == job.spec)

    def n_synthetic(self, job: Job) -> int:
        return self.config.n_synthetic or self.splits[job.dataset][0].n_records

    def failure(self, job: Job, error: str, wall_s: float | None = None) -> JobRecord:
        """The record of a job that never returned one (killed, crashed)."""
        return JobRecord.failed(job.spec.label, job.dataset, job.seed, self.n_synthetic(job), error, wall_s)


def parse_generators(text: str | list[str], add_baseline: bool = True) -> list[GeneratorSpec]:
    """Specs from the CLI text; ``all`` stands for every built-in generator."""
    specs = []
    for spec in GeneratorSpec.parse_list(",".join(text) if isinstance(text, list) else text):
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


def plan_generator(spec: GeneratorSpec, preset: str | None) -> GeneratorPlan:
    plan = GeneratorPlan(spec, generator_registry.get_class(spec.name),
                         generator_registry.resolve_params(spec, preset))
    plan.build(random_state=0)  # validates every option before any work
    return plan


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
    if not config.datasets:
        raise OptionError("--datasets: no dataset named")
    if config.device != "cpu":
        device_info(config.device)  # --device cuda without CUDA: a clear error before any work
    plans = [plan_generator(spec, config.preset) for spec in config.generators]
    if config.preset:  # a mistyped preset would silently run the published defaults
        known = sorted({*SUITE_PRESETS, *(p for plan in plans for p in plan.cls.presets)})
        if config.preset not in known:
            raise OptionError(f"unknown --preset {config.preset!r}; valid presets: {', '.join(known)}")
    metric_classes = metric_registry.resolve(config.metrics or None)
    config.metrics = [m.name for m in metric_classes]
    resolved = [dataset_registry.resolve(spec) for spec in config.datasets]  # every name before any load
    splits = {}
    for spec, (entry, options) in zip(config.datasets, resolved, strict=True):
        data = dataset_registry.build(entry, options, entry.data_dir(data_dir))
        splits[spec.label] = data.split(seed=config.split_seed, test_size=config.test_size)
    return Prepared(config, plans, metric_classes, splits)


def job_key(prep: Prepared, job: Job) -> str:
    """Hash of everything that decides a job's numbers: a finished job is reused while it holds."""
    train, test = prep.splits[job.dataset]
    payload = {
        "generator": job.spec.name,
        "params": {k: repr(v) for k, v in sorted(prep.plan(job).params.items())},
        "train": train.fingerprint,
        "test": test.fingerprint,
        "seed": job.seed,
        "metrics": prep.config.metrics,
        "n_synthetic": prep.config.n_synthetic,
        "device": prep.config.device,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
