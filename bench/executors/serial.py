"""The ``local`` executor: jobs in this process, one after another, in grid order. Progress
reports reach the caller's callback directly, from inside the job. With ``threads`` each job
computes in exactly that many threads (:func:`bench.core.threads.thread_budget`; the command
line gives it every core); without, in whatever this process has."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import OptionError
from bench.core.threads import current_threads, thread_budget
from bench.executors.base import JobFunction, JobProgress, Limits
from bench.records import JobRecord


class SerialExecutor:
    """Jobs in this process, in grid order. Limits need a separate process to be enforced."""

    name = "local"

    def __init__(self, limits: Limits | None = None, threads: int | None = None) -> None:
        self.limits = limits or Limits()
        if self.limits.timeout_s or self.limits.memory_mb:
            raise OptionError("--timeout and --memory-mb need --executor process or ray")
        self.threads = threads

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None,
            progress: JobProgress | None = None) -> Iterator[tuple[Any, JobRecord]]:
        for job in jobs:
            extra = {} if progress is None else {"progress": functools.partial(progress, job)}
            # the budget covers the job only: the harness writes the tables in its own threads
            with thread_budget(self.threads) if self.threads else contextlib.nullcontext():
                record = job_fn(prep, job, synthetic_dir, **extra)
            yield job, record

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": 1, "threads_per_job": self.threads or current_threads()}
