"""Where jobs run. Every executor yields (job, record) as jobs finish; results never depend on it.

``serial`` runs jobs one after another in this process. Parallel executors (processes, Ray) plug
in here with the same interface; the harness writes each record as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import OptionError

if TYPE_CHECKING:
    from bench.harness import Job, Prepared

EXECUTORS = ("local",)


@dataclass
class Limits:
    """Per-job limits; a job past one is recorded as an error with the reason."""

    timeout_s: float | None = None
    memory_mb: float | None = None


class SerialExecutor:
    """Jobs in this process, in grid order. Limits need a separate process to be enforced."""

    name = "local"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        if self.limits.timeout_s or self.limits.memory_mb:
            raise OptionError("--timeout and --memory-mb need --executor process or ray")

    def run(self, prep: Prepared, jobs: list[Job], synthetic_dir: Path | None) -> Iterator[tuple[Job, dict[str, Any]]]:
        from bench.harness import run_job

        for job in jobs:
            yield job, run_job(prep, job, synthetic_dir)

    def close(self) -> None:
        pass


def make_executor(kind: str = "local", jobs: int = 1, limits: Limits | None = None, **options: Any):
    if kind not in EXECUTORS:
        raise OptionError(f"unknown executor {kind!r}; valid executors: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs}")
    return SerialExecutor(limits)
