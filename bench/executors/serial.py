"""The ``local`` executor: jobs in this process, one after another, in grid order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import OptionError
from bench.executors.base import JobFunction, Limits
from bench.records import JobRecord


class SerialExecutor:
    """Jobs in this process, in grid order. Limits need a separate process to be enforced."""

    name = "local"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        if self.limits.timeout_s or self.limits.memory_mb:
            raise OptionError("--timeout and --memory-mb need --executor process or ray")

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None
            ) -> Iterator[tuple[Any, JobRecord]]:
        for job in jobs:
            yield job, job_fn(prep, job, synthetic_dir)

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": 1}
