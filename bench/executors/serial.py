"""The ``local`` executor: jobs in this process, one after another, in grid order. Progress
reports reach the caller's callback directly, from inside the job."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import OptionError
from bench.executors.base import JobFunction, JobProgress, Limits
from bench.records import JobRecord


class SerialExecutor:
    """Jobs in this process, in grid order. Limits need a separate process to be enforced."""

    name = "local"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        if self.limits.timeout_s or self.limits.memory_mb:
            raise OptionError("--timeout and --memory-mb need --executor process or ray")

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None,
            progress: JobProgress | None = None) -> Iterator[tuple[Any, JobRecord]]:
        for job in jobs:
            if progress is None:
                yield job, job_fn(prep, job, synthetic_dir)
            else:
                yield job, job_fn(prep, job, synthetic_dir, progress=functools.partial(progress, job))

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": 1}
