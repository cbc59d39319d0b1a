"""The Python API: run a benchmark from a script or a notebook, and read its results.

::

    from bench import run_benchmark

    result = run_benchmark(["meddiff", "medgan"], datasets="eunomia", seeds=[0], preset="quick")
    print(result.headline)       # the headline table (Markdown)
    result.scores                # every score of every job (a DataFrame)
    result.verdict               # the paired comparisons, when the run wrote them
    result.run_dir               # the run folder: every table, the manifest, the job records

:func:`run_benchmark` takes what ``python -m bench run`` takes (docs/api.md lists each
argument beside its command-line option) and the command is a thin layer over it: both build a
:class:`Benchmark`, which checks everything that can be checked without data (names, options,
presets, metrics, seeds, the executor, and that the output folder can be written) before any data
is loaded or any model trained, then :meth:`Benchmark.run` loads the data and runs the grid.

Generators may be given as text specs (``"meddiff:steps=20"``), as
:class:`bench.core.options.GeneratorSpec`, or as generator objects (``MedDiff(steps=20)``): an
object stands for its class with the hyperparameters it was built with (a class that is not
registered is registered for the run).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bench import harness
from bench.config import Checked, RunConfig, check, parse_generators
from bench.core.errors import OptionError
from bench.core.io import check_writable, read_json
from bench.core.options import DatasetSpec, GeneratorSpec, parse_ints
from bench.results import read_jobs_csv
from bench.run_status import check_not_held, read_manifest
from generators import registry as generator_registry
from generators.base import Generator

DEFAULT_RESULTS = Path("results")

__all__ = ["Benchmark", "BenchmarkResult", "configure", "run_benchmark"]


def _seeds(seeds: int | str | Iterable[int]) -> list[int]:
    """``seeds``: one seed, a list, or the command line's text (``"0,1,2"``)."""
    if isinstance(seeds, bool):
        raise OptionError(f"seeds: expected integers, got {seeds!r}")
    if isinstance(seeds, int):
        return [seeds]
    if isinstance(seeds, str):  # the command line's grammar: "0,1,2", "0-9" (bench.core.options.parse_ints)
        return parse_ints(seeds, "--seeds")
    out = list(seeds)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in out):
        raise OptionError(f"--seeds: expected integers, got {out!r}")
    return out


def _names(items: str | Iterable[str] | None) -> list[str]:
    if items is None:
        return []
    if isinstance(items, str):
        return [x.strip() for x in items.split(",") if x.strip()]
    return [str(x) for x in items]


def _generator_spec(item: Any) -> GeneratorSpec | str:
    """A generator object as the spec of its class and the hyperparameters that differ from the
    class's defaults (``random_state`` is the job's seed, never the object's)."""
    if not isinstance(item, Generator):
        return item
    cls = type(item)
    name = cls.name or cls.__name__.lower()
    try:
        known = generator_registry.get_class(name)
    except OptionError:
        known = None
    if known is not cls:
        if known is not None and name in generator_registry.BUILTIN:
            raise OptionError(f"generator object {item!r}: its class is not the built-in {name!r}; "
                              "give the subclass its own name")
        generator_registry.register(cls, name)
    defaults = cls.param_defaults()
    options = {k: v for k, v in item.get_params(deep=False).items()
               if k != "random_state" and (k not in defaults or not _same(v, defaults[k]))}
    return GeneratorSpec(name, options)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and the like: compared by identity
        return a is b


def _generators(generators: Any, baseline: bool) -> list[GeneratorSpec]:
    if isinstance(generators, (str, Generator, GeneratorSpec)):
        generators = [generators]
    items = [_generator_spec(g) for g in generators]
    text = [g for g in items if isinstance(g, str)]
    specs = [g for g in items if isinstance(g, GeneratorSpec)]
    if text and specs:  # mixed: each item on its own, so 'all' still expands and the baseline is added once
        out: list[GeneratorSpec] = []
        for g in items:
            out += parse_generators(g, add_baseline=False) if isinstance(g, str) else [g]
        labels = [s.label for s in out]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise OptionError(f"generator {dup[0]!r} is named twice")
        if baseline and harness.BASELINE not in {s.name for s in out}:
            out.insert(0, GeneratorSpec(harness.BASELINE))
        return out
    if specs:
        out = list(specs)
        if baseline and harness.BASELINE not in {s.name for s in out}:
            out.insert(0, GeneratorSpec(harness.BASELINE))
        return out
    return parse_generators(",".join(text), add_baseline=baseline)


def _datasets(datasets: Any) -> list[DatasetSpec]:
    if datasets is None:
        return []
    if isinstance(datasets, (str, DatasetSpec)):
        datasets = [datasets]
    out: list[DatasetSpec] = []
    for d in datasets:
        out += DatasetSpec.parse_list(d) if isinstance(d, str) else [d]
    return out


def configure(
    generators: Any,
    datasets: Any = "eunomia",
    *,
    seeds: int | str | Iterable[int] = (0, 1, 2),
    metrics: str | Iterable[str] | None = None,
    preset: str | None = None,
    baseline: bool = True,
    n_synthetic: int | None = None,
    split_seed: int | None = None,
    val_size: float = 0.1,
    test_size: float = 0.2,
    score_on: str = "test",
    eval_datasets: Any = None,
    eval_fill_missing: bool = False,
    budget: int | None = None,
    device: str = "cpu",
    save_synthetic: bool = False,
) -> RunConfig:
    """The :class:`RunConfig` of a run: every argument is the one of :func:`run_benchmark`."""
    return RunConfig(
        generators=_generators(generators, baseline), datasets=_datasets(datasets), seeds=_seeds(seeds),
        metrics=_names(metrics), preset=preset, n_synthetic=n_synthetic, split_seed=split_seed,
        val_size=val_size, test_size=test_size, score_on=score_on, eval_datasets=_datasets(eval_datasets),
        eval_fill_missing=eval_fill_missing, budget=budget, device=device, save_synthetic=save_synthetic,
    )


@dataclass
class Benchmark:
    """A run, checked and placed, not yet run: ``Benchmark(config, ...)`` raises a
    :class:`bench.core.errors.BenchError` naming the problem (a name, an option, a preset, the
    executor, an output folder that cannot be written, a folder holding another configuration's
    run) before any data is loaded; :meth:`run` then loads the data and runs the grid.

    ``out``: the run folder (default: a new one, or the newest of the same configuration to
    resume, under ``results_dir/runs``); ``force``: recompute every job in a new folder.
    """

    config: RunConfig
    out: str | Path | None = None
    results_dir: str | Path = DEFAULT_RESULTS
    force: bool = False
    data_dir: str | Path | None = None
    executor: Any = "local"
    jobs: int = 1
    threads: int | None = None
    timeout: float | None = None
    memory_mb: float | None = None
    ray_address: str | None = None
    run_dir: Path = field(init=False)
    resumed: bool = field(init=False, default=False)
    checked: Checked = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.checked = check(self.config)
        if self.out is not None:
            self.run_dir = Path(self.out)
            check_writable(self.run_dir, "--out")
        else:
            root = Path(self.results_dir) / "runs"
            check_writable(root, "--results-dir")
            found = None if self.force else harness.find_resumable(root, self.config)
            self.resumed = found is not None
            self.run_dir = found or harness.new_run_dir(root, self.config)
        manifest = self.run_dir / "manifest.json"
        if manifest.is_file():
            try:
                found = read_json(manifest)
                old = found.get("config_hash")
            except (OSError, ValueError, AttributeError):
                found, old = {}, None
            if old != self.config.hash:
                raise OptionError(f"{self.run_dir} holds a run of another configuration ({old}); "
                                  "name another --out directory")
            check_not_held(self.run_dir, found)  # another process on this host runs it now
        if isinstance(self.executor, str):  # last: a process pool or a Ray connection only once all else holds
            from bench.executors import Limits, make_executor

            extra = {"threads": self.threads} if self.threads is not None else {}
            self.executor = make_executor(self.executor, jobs=self.jobs, limits=Limits(self.timeout, self.memory_mb),
                                          ray_address=self.ray_address, **extra)

    def run(self, progress: bool = False, command: list[str] | None = None,
            log: Callable[[str], None] | None = None) -> BenchmarkResult:
        """Load the data, run every job not already finished in :attr:`run_dir`, write the
        tables; return the result. Ctrl-C (or SIGTERM) stops it with ``KeyboardInterrupt``, the
        manifest saying ``interrupted`` and naming the missing jobs; the same call resumes."""
        prep = harness.prepare(self.config, data_dir=None if self.data_dir is None else str(self.data_dir),
                               checked=self.checked)
        harness.run(prep, self.run_dir, command=command, force=self.force, progress=progress,
                    log=log or (lambda msg: print(msg, file=sys.stderr)), executor=self.executor)
        return BenchmarkResult(self.run_dir)


def run_benchmark(
    generators: Any,
    datasets: Any = "eunomia",
    *,
    seeds: int | str | Iterable[int] = (0, 1, 2),
    metrics: str | Iterable[str] | None = None,
    preset: str | None = None,
    baseline: bool = True,
    out: str | Path | None = None,
    results_dir: str | Path = DEFAULT_RESULTS,
    force: bool = False,
    data_dir: str | Path | None = None,
    executor: Any = "local",
    jobs: int = 1,
    threads: int | None = None,
    timeout: float | None = None,
    memory_mb: float | None = None,
    ray_address: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> BenchmarkResult:
    """Run generators x datasets x seeds and score them; return the :class:`BenchmarkResult`.

    ``generators``: specs (``"meddiff:steps=20"``, a list, ``"all"``), GeneratorSpec or generator
    objects; ``independent`` is added as the baseline unless ``baseline=False``. ``datasets``:
    names with options (``"toy:n_records=300"``). ``seeds``: an int, a list or ``"0,1,2"``.
    ``metrics``: names (default: the default suite). ``preset``: ``"quick"``, ``"cpu"`` or a
    generator's own. Further keywords (``n_synthetic``, ``split_seed``, ``val_size``,
    ``test_size``, ``score_on``, ``eval_datasets``, ``eval_fill_missing``, ``budget``, ``device``,
    ``save_synthetic``) are those of :func:`configure`; docs/api.md maps each to its command-line
    option. Every error a user can fix is a :class:`bench.core.errors.BenchError` raised before
    any data is loaded or any model trained.
    """
    config = configure(generators, datasets, seeds=seeds, metrics=metrics, preset=preset, baseline=baseline,
                       **options)
    bench = Benchmark(config, out=out, results_dir=results_dir, force=force, data_dir=data_dir, executor=executor,
                      jobs=jobs, threads=threads, timeout=timeout, memory_mb=memory_mb, ray_address=ray_address)
    return bench.run(progress=progress, log=log)


@dataclass(frozen=True)
class BenchmarkResult:
    """A run folder's results, read from its files when first asked for.

    ``BenchmarkResult(run_dir)`` opens any run folder, one made by the command line included.
    """

    run_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if not (self.run_dir / "manifest.json").is_file():
            raise OptionError(f"{self.run_dir} is not a run folder (no manifest.json)")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json`` as a reader takes it: a run that says ``running`` but whose process is
        gone on this host (killed with SIGKILL, out of memory) reads ``interrupted``, with its
        missing jobs (bench.run_status)."""
        return read_manifest(self.run_dir)

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.manifest["config"])

    @property
    def status(self) -> str:
        """``complete``, ``interrupted`` (Ctrl-C, SIGTERM, a crash, or its process gone without a
        word) or ``running`` (still going, or on another host, where it cannot be told)."""
        return str(self.manifest.get("status"))

    @property
    def interrupted(self) -> str | None:
        """Why an interrupted run stopped (e.g. ``interrupted (Ctrl-C)``, ``interrupted (process gone: ...)``)."""
        return self.manifest.get("interrupted") if self.status == "interrupted" else None

    @property
    def missing_jobs(self) -> list[dict[str, Any]]:
        """The jobs an interrupted run never finished: generator, dataset, seed."""
        return list(self.manifest.get("missing_jobs") or [])

    @cached_property
    def scores(self) -> pd.DataFrame:
        """One row per job and score (``scores.csv``: every category but speed), typed."""
        parquet = self.run_dir / "scores.parquet"
        if parquet.is_file():
            return pd.read_parquet(parquet)
        return self._csv("scores.csv")

    @cached_property
    def timings(self) -> pd.DataFrame:
        """The speed rows (``timings.csv``): they measure the machine, not the method."""
        return self._csv("timings.csv")

    @cached_property
    def jobs(self) -> pd.DataFrame:
        """One row per job: status, times, memory, the generator's diagnostics (``jobs.csv``)."""
        path = self.run_dir / "jobs.csv"
        return read_jobs_csv(path) if path.is_file() else pd.DataFrame()

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per generator, dataset and score: mean, interval and rank (``summary.csv``)."""
        return self._csv("summary.csv")

    @property
    def headline(self) -> str:
        """The headline table: one row per generator, one column a facet (``headline.md``)."""
        return self._text("headline.md") or ""

    @cached_property
    def verdict(self) -> pd.DataFrame | None:
        """The paired comparisons (``verdict.csv``), or None when the run wrote none."""
        path = self.run_dir / "verdict.csv"
        return pd.read_csv(path) if path.is_file() else None

    @property
    def verdict_markdown(self) -> str | None:
        return self._text("verdict.md")

    def _csv(self, name: str) -> pd.DataFrame:
        path = self.run_dir / name
        if not path.is_file():
            return pd.DataFrame()
        return pd.read_csv(path, dtype={"ideal": object, "note": object} if "scores" in name or "timings" in name
                           else None)

    def _text(self, name: str) -> str | None:
        path = self.run_dir / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def __repr__(self) -> str:
        counts = self.manifest.get("jobs") or {}
        return f"BenchmarkResult({str(self.run_dir)!r}, status={self.status!r}, jobs={counts.get('total', '?')})"
