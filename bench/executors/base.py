"""What an executor is: it receives the job function and the prepared grid, runs the jobs
somewhere, and yields ``(job, JobRecord)`` as they finish. Results never depend on which one ran.

Executors know nothing of the harness: the job function (:func:`bench.jobs.run_job`) and the
grid come in as arguments. The grid must offer ``failure(job, error, wall_s)`` (the record of a
job that never returned one), ``plans`` and ``metric_classes`` (what a fork server preloads) and
``config.device``; :class:`bench.config.Prepared` does.

Progress: ``run`` may take ``progress=``, a :data:`JobProgress` ``(job, done, total, unit)``
that hears how far each running job has come (see :mod:`bench.core.progress`). The job function
then gets ``progress=`` for that job. An executor that cannot pass it on accepts and ignores it
(Ray); one without the parameter (a third party's) simply shows none
(:func:`accepts_progress`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.core.errors import OptionError
from bench.records import JobRecord

# run_job(prep, job, synthetic_dir, progress=None) -> JobRecord; a module-level function, so that it pickles by
# reference into a child process or a Ray task
JobFunction = Callable[..., JobRecord]
# progress(job, done, total, unit): how far a running job has come, for display only
JobProgress = Callable[[Any, int, int, str], None]


@dataclass
class Limits:
    """Per-job limits; a job past one is recorded as an error with the reason."""

    timeout_s: float | None = None
    memory_mb: float | None = None

    def __post_init__(self) -> None:
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise OptionError(f"--timeout must be positive, got {self.timeout_s:g}")
        if self.memory_mb is not None and self.memory_mb <= 0:
            raise OptionError(f"--memory-mb must be positive, got {self.memory_mb:g}")

    @property
    def any(self) -> bool:
        return bool(self.timeout_s or self.memory_mb)


class Executor(Protocol):
    """What the harness needs from an executor (``bench.harness.run`` consumes ``run``)."""

    name: str

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None,
            progress: JobProgress | None = None) -> Iterator[tuple[Any, JobRecord]]: ...

    def close(self) -> None: ...


def accepts_progress(executor: object) -> bool:
    """Whether ``executor.run`` takes ``progress=`` (ours all do; a third party's may not)."""
    try:
        return "progress" in inspect.signature(executor.run).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False


def describe_executor(executor: object) -> dict[str, Any]:
    """What the manifest records about where the jobs ran (third-party executors included)."""
    describe = getattr(executor, "describe", None)
    if callable(describe):
        return describe()
    return {"name": getattr(executor, "name", type(executor).__name__)}
