"""A run's configuration and its validated grid: everything is checked here, before any file is
written, and each spec is parsed and resolved once.

``RunConfig`` holds typed specs (:class:`GeneratorSpec`, :class:`DatasetSpec`); its ``to_dict``
is the manifest's ``config`` (labels, as the command line wrote them) and its hash names the run
directory. ``prepare`` turns it into a :class:`Prepared` grid: each generator's class and resolved
hyperparameters, the metric classes, and for each dataset and split seed the records a job trains
on and is scored on (:class:`bench.splits.JobData`: each seed its own split unless one is pinned;
a training dataset with an evaluation dataset is scored on that one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bench import datasets as dataset_registry
from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, GeneratorSpec
from bench.provenance import code_version, device_info
from bench.records import JobRecord
from bench.splits import SCORE_ON, JobData, aligned_eval, job_data, transport_label
from generators import registry as generator_registry
from generators.base import SUITE_PRESETS, Generator
from metrics import registry as metric_registry
from metrics.base import Metric

BASELINE = "independent"
__all__ = ["BASELINE", "SUITE_PRESETS", "Checked", "GeneratorPlan", "Job", "Prepared", "RunConfig", "check",
           "job_key", "parse_generators", "plan_generator", "prepare"]


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
    split_seed: int | None = None  # None: each seed draws its own split; a number pins one for all
    test_size: float = 0.2
    device: str = "cpu"
    save_synthetic: bool = False
    val_size: float = 0.1  # 0: no validation part (the train/test split runs used before it existed)
    # scored on these instead of the training datasets: none, one for all, or one per training dataset
    eval_datasets: list[DatasetSpec] = field(default_factory=list)
    eval_fill_missing: bool = False  # zero-fill training columns an evaluation dataset lacks
    # equal-budget mode (Lucic et al. 2018): every neural generator stops after this many optimiser
    # updates (its ``max_updates``), unless the generator's own options set one
    budget: int | None = None
    # what the metrics score against: "test" (the leaderboard's held-out part) or "validation"
    # (tuning: choose a default without ever looking at the test records)
    score_on: str = "test"

    def __post_init__(self) -> None:
        self.generators = _specs(list(self.generators), GeneratorSpec)
        self.datasets = _specs(list(self.datasets), DatasetSpec)
        self.eval_datasets = _specs(list(self.eval_datasets), DatasetSpec)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A configuration stored by ``to_dict`` (a manifest, a ``bench check`` baseline).

        One written before validation parts existed has no ``val_size``: it ran on the train / test
        split alone, so it reads as ``val_size`` 0 and reruns on exactly the records it ran on
        (its ``split_seed`` 0 still pins split 0 for every seed).
        """
        data = dict(data)
        data.setdefault("val_size", 0.0)
        return cls(**data)

    def split_seed_for(self, seed: int) -> int:
        """The split a job of ``seed`` draws: its own, unless ``split_seed`` pins one."""
        return seed if self.split_seed is None else self.split_seed

    def eval_for(self) -> list[DatasetSpec | None]:
        """Each training dataset's evaluation dataset (None: scored on its own test part)."""
        evals = self.eval_datasets
        if not evals:
            return [None] * len(self.datasets)
        if len(evals) == 1:
            evals = evals * len(self.datasets)
        if len(evals) != len(self.datasets):
            raise OptionError(
                f"--eval-dataset: give one dataset for all training datasets or one per training dataset; "
                f"got {len(self.eval_datasets)} for {len(self.datasets)} ({', '.join(self.dataset_labels)})"
            )
        return [None if e.label == d.label else e for d, e in zip(self.datasets, evals, strict=True)]

    @property
    def dataset_labels(self) -> list[str]:
        """The training datasets' labels, as the command line wrote them."""
        return [d.label for d in self.datasets]

    @property
    def table_labels(self) -> list[str]:
        """The tables' dataset labels: ``A``, or ``A → B`` for a dataset scored on another."""
        return [d.label if e is None else transport_label(d.label, e.label)
                for d, e in zip(self.datasets, self.eval_for(), strict=True)]

    @property
    def generator_labels(self) -> list[str]:
        return [g.label for g in self.generators]

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``config``: plain JSON, specs as their labels."""
        return {
            "generators": self.generator_labels, "datasets": self.dataset_labels, "seeds": list(self.seeds),
            "metrics": list(self.metrics), "preset": self.preset, "n_synthetic": self.n_synthetic,
            "split_seed": self.split_seed, "val_size": self.val_size, "test_size": self.test_size,
            "eval_datasets": [d.label for d in self.eval_datasets], "eval_fill_missing": self.eval_fill_missing,
            "device": self.device, "save_synthetic": self.save_synthetic, "budget": self.budget,
            # only when it departs from the default, so every configuration written before it
            # existed keeps its hash (and its resumable run directory)
            **({"score_on": self.score_on} if self.score_on != "test" else {}),
        }

    @property
    def hash(self) -> str:
        keyed = {k: v for k, v in self.to_dict().items() if k != "save_synthetic"}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Job:
    spec: GeneratorSpec
    dataset: str  # the table label (``A`` or ``A → B``): the key of its data in ``Prepared.data``
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
    defaults, then the preset, then the run's ``--device`` and ``--budget``, then the user's
    options). The class travels with the grid, so a job's process needs no registry (a generator
    registered at run time included)."""

    spec: GeneratorSpec
    cls: type[Generator]
    params: dict[str, Any]

    def build(self, random_state: int | None) -> Generator:
        """The job's generator, built the one way every generator is (``generators.registry.build``)."""
        return generator_registry.build(self.cls, self.params, random_state)


@dataclass
class Prepared:
    """A validated grid: generator plans, metric classes and each job's data, before any file is written.

    ``data[label][split_seed]`` holds the records of every job of that dataset label whose seed
    draws that split (:meth:`RunConfig.split_seed_for`); ``sources[label]`` describes the whole
    training dataset (and the evaluation dataset) in aggregates, for the manifest.
    """

    config: RunConfig
    plans: list[GeneratorPlan]
    metric_classes: list[type[Metric]]
    data: dict[str, dict[int, JobData]]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def specs(self) -> list[GeneratorSpec]:
        return [p.spec for p in self.plans]

    @property
    def jobs(self) -> list[Job]:
        return [Job(p.spec, d, seed) for d in self.data for p in self.plans for seed in self.config.seeds]

    def plan(self, job: Job) -> GeneratorPlan:
        return next(p for p in self.plans if p.spec == job.spec)

    def job_data(self, job: Job) -> JobData:
        return self.data[job.dataset][self.config.split_seed_for(job.seed)]

    def n_synthetic(self, job: Job) -> int:
        return self.config.n_synthetic or self.job_data(job).train.n_records

    def failure(self, job: Job, error: str, wall_s: float | None = None) -> JobRecord:
        """The record of a job that never returned one (killed, crashed)."""
        return JobRecord.failed(job.spec.label, job.dataset, job.seed, self.n_synthetic(job), error, wall_s)


def parse_generators(text: str | list[str], add_baseline: bool = True) -> list[GeneratorSpec]:
    """Specs from the CLI text; ``all`` stands for every built-in generator, each with the rows its
    class declares in ``variants`` (MedDiff: the plain conditional model and the guided one, so
    the table shows what guidance does)."""
    specs = []
    for spec in GeneratorSpec.parse_list(",".join(text) if isinstance(text, list) else text):
        if spec.name == "all" and not spec.options:
            for name in generator_registry.BUILTIN:
                rows = generator_registry.get_class(name).variants
                specs += [GeneratorSpec.parse(v) for v in rows.values()] if rows else [GeneratorSpec(name)]
        else:
            specs.append(spec)
    labels = [s.label for s in specs]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise OptionError(f"generator {sorted(dup)[0]!r} is named twice")
    if add_baseline and BASELINE not in {s.name for s in specs}:
        specs.insert(0, GeneratorSpec(BASELINE))
    return specs


def plan_generator(spec: GeneratorSpec, preset: str | None, budget: int | None = None,
                   device: str = "cpu") -> GeneratorPlan:
    """Class and hyperparameters of one generator; ``budget`` caps the optimiser updates of every
    generator that has a ``max_updates`` hyperparameter (the neural ones), and ``device`` is the
    ``device`` hyperparameter of every generator that has one, unless the spec sets them. A
    hyperparameter equal to its default is not added, so the job keys of a CPU run stay those of
    the runs before ``device`` was passed this way."""
    cls = generator_registry.get_class(spec.name)
    # a generator with no preset at all (a baseline: nothing to scale) runs its defaults under any
    # preset the run names; every other generator must know the preset (generators.registry.check_preset)
    params = generator_registry.resolve_params(spec, preset if cls.presets else None)
    names = cls.param_defaults()
    if budget is not None and "max_updates" in names and "max_updates" not in spec.options:
        params = {**params, "max_updates": int(budget)}
    if "device" in names and "device" not in spec.options and names["device"] != device:
        params = {**params, "device": device}
    plan = GeneratorPlan(spec, cls, params)
    plan.build(random_state=0)  # validates every option before any work
    return plan


@dataclass
class Checked:
    """A configuration checked without loading any data: every generator planned (options and
    preset validated), the metric classes, and each dataset spec's registry entry with its
    coerced options (training datasets and evaluation datasets, by label)."""

    plans: list[GeneratorPlan]
    metric_classes: list[type[Metric]]
    datasets: dict[str, tuple[Any, dict[str, Any]]]


def check(config: RunConfig) -> Checked:
    """Every check of ``config`` that needs no data: names, options, presets, seeds, sizes, the
    device. Raises a BenchError naming the problem; reads and writes nothing.

    ``config.metrics`` is set to the metric names it resolves to (the default suite spelled out),
    so the configuration's hash, which names its run directory, is final after this call."""
    if not config.seeds:
        raise OptionError("--seeds: at least one seed is needed")
    if len(set(config.seeds)) != len(config.seeds):
        raise OptionError(f"--seeds: a seed is repeated in {config.seeds}")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in config.seeds):
        raise OptionError(f"--seeds: seeds must be non-negative integers, got {config.seeds}")
    if config.n_synthetic is not None and config.n_synthetic <= 0:
        raise OptionError(f"--n-synthetic must be positive, got {config.n_synthetic}")
    if not config.datasets:
        raise OptionError("--datasets: no dataset named")
    if config.device not in ("auto", "cpu") and not str(config.device).startswith("cuda"):
        raise OptionError(f"--device must be auto, cpu or cuda, got {config.device!r}")
    if config.device != "cpu":
        device_info(config.device)  # --device cuda without CUDA: a clear error before any work
    if config.budget is not None and config.budget <= 0:
        raise OptionError(f"--budget must be a positive number of optimiser updates, got {config.budget}")
    if not config.generators:
        raise OptionError("--generators: no generator named")
    if config.preset:  # named for the whole run first; a preset only some generators know fails in plan_generator
        known = sorted({*SUITE_PRESETS, *(p for spec in config.generators
                                          for p in generator_registry.get_class(spec.name).presets)})
        if config.preset not in known:
            raise OptionError(f"unknown --preset {config.preset!r}; valid presets: {', '.join(known)}")
    plans = [plan_generator(spec, config.preset, config.budget, config.device) for spec in config.generators]
    _check_split_options(config)
    metric_classes = metric_registry.resolve(config.metrics or None)
    config.metrics = [m.name for m in metric_classes]
    evals = config.eval_for()
    labels = config.table_labels
    if len(set(labels)) != len(labels):
        raise OptionError(f"--datasets: a dataset is named twice in {labels}")
    datasets = {s.label: dataset_registry.resolve(s) for s in [*config.datasets, *(e for e in evals if e)]}
    return Checked(plans, metric_classes, datasets)


def prepare(config: RunConfig, data_dir: str | None = None, checked: Checked | None = None) -> Prepared:
    """Validate every name and option (:func:`check`, unless ``checked`` is its result) and load
    the data; raise a BenchError before any work."""
    checked = checked or check(config)
    resolved = checked.datasets
    loaded: dict[str, Any] = {}

    def load(spec: DatasetSpec):
        if spec.label not in loaded:
            entry, options = resolved[spec.label]
            loaded[spec.label] = dataset_registry.build(entry, options, entry.data_dir(data_dir))
        return loaded[spec.label]

    split_seeds = sorted({config.split_seed_for(s) for s in config.seeds})
    data: dict[str, dict[int, JobData]] = {}
    sources: dict[str, dict[str, Any]] = {}
    for spec, eval_spec, label in zip(config.datasets, config.eval_for(), config.table_labels, strict=True):
        full = load(spec)
        sources[label] = {"dataset": {**full.describe(), "spec": spec.label}}
        eval_data = None
        if eval_spec is not None:
            eval_data = aligned_eval(full, load(eval_spec), spec.label, eval_spec.label, config.eval_fill_missing)
            sources[label]["eval_dataset"] = {**eval_data.describe(), "spec": eval_spec.label}
        data[label] = {s: job_data(full, s, config.val_size, config.test_size, eval_data,
                                   score_on=config.score_on) for s in split_seeds}
    return Prepared(config, checked.plans, checked.metric_classes, data, sources)


def _check_split_options(config: RunConfig) -> None:
    if config.eval_fill_missing and not config.eval_datasets:
        raise OptionError("--eval-fill-missing needs --eval-dataset")
    if config.split_seed is not None and (not isinstance(config.split_seed, int) or config.split_seed < 0):
        raise OptionError(f"--split-seed must be a non-negative integer, got {config.split_seed!r}")
    if not 0 < config.test_size < 1:
        raise OptionError(f"--test-size must be in (0, 1), got {config.test_size}")
    if not 0 <= config.val_size < 1 or config.val_size + config.test_size >= 1:
        raise OptionError(f"--val-size must be in [0, 1) with --val-size + --test-size below 1, got "
                          f"{config.val_size} + {config.test_size}")
    if config.score_on not in SCORE_ON:
        raise OptionError(f"--score-on must be one of {', '.join(SCORE_ON)}, got {config.score_on!r}")
    if config.score_on == "validation" and config.val_size == 0:
        raise OptionError("--score-on validation needs a validation part: --val-size must be above 0")
    if config.score_on == "validation" and config.eval_datasets:
        raise OptionError("--score-on validation cannot be combined with --eval-dataset (a transported job "
                          "is scored on the other dataset's test part)")


def job_key(prep: Prepared, job: Job) -> str:
    """Hash of everything that decides a job's numbers: a finished job is reused while it holds."""
    payload = {
        "generator": job.spec.name,
        "params": {k: repr(v) for k, v in sorted(prep.plan(job).params.items())},
        "data": prep.job_data(job).fingerprints(),  # every part of the split, the evaluation data's too
        "seed": job.seed,
        "metrics": prep.config.metrics,
        "n_synthetic": prep.config.n_synthetic,
        "device": prep.config.device,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
