"""Where jobs run. Every executor receives the job function and yields (job, record) as jobs
finish; results never depend on which one ran.

``local`` (:mod:`.serial`) runs jobs one after another in this process. ``process``
(:mod:`.process`) runs each job in a child process of its own, at most ``jobs`` at once, so that
the parent can stop a job that runs past its time or memory limit and record why, while the other
jobs go on. Each job computes in its own budget of threads (:mod:`bench.core.threads`), so jobs
side by side do not fight over the cores. ``ray`` (:mod:`.ray`) hands the jobs to a Ray cluster. The protocol is in
:mod:`.base`, the process supervision (process groups, tree kill, prctl, thread matching) in
:mod:`.supervision`.
"""

from __future__ import annotations

from typing import Any

from bench.core.errors import OptionError
from bench.core.threads import default_threads
from bench.executors.base import (
    Executor,
    JobFunction,
    JobProgress,
    Limits,
    accepts_progress,
    describe_executor,
)
from bench.executors.process import ProcessExecutor
from bench.executors.ray import RAY_HINT, RayExecutor
from bench.executors.serial import SerialExecutor

EXECUTORS = ("local", "process", "ray")


def make_executor(kind: str = "local", jobs: int = 1, limits: Limits | None = None, threads: int | None = None,
                  **options: Any) -> Executor:
    """The executor named on the command line; every bad combination is refused before any work.

    ``threads``: each job's thread budget (``--threads``); by default every core for the one job
    of ``local``, ``floor(cores / jobs)`` for each of ``jobs`` at once (:mod:`bench.core.threads`)."""
    if kind not in EXECUTORS:
        raise OptionError(f"unknown executor {kind!r}; valid executors: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise OptionError(f"--threads must be a positive integer, got {threads!r}")
    threads = threads or default_threads(1 if kind == "local" else jobs)
    ray_address = options.pop("ray_address", None)
    if options:
        raise OptionError(f"unknown executor option {sorted(options)[0]!r}")
    if ray_address and kind != "ray":
        raise OptionError("--ray-address needs --executor ray")
    limits = limits or Limits()
    if kind == "local":
        if jobs > 1:
            raise OptionError("--jobs above 1 runs jobs in parallel: it needs --executor process or ray")
        return SerialExecutor(limits, threads=threads)
    if kind == "process":
        return ProcessExecutor(jobs, limits, threads=threads)
    return RayExecutor(jobs, limits, address=ray_address, threads=threads)


__all__ = ["EXECUTORS", "RAY_HINT", "Executor", "JobFunction", "JobProgress", "Limits", "ProcessExecutor",
           "RayExecutor", "SerialExecutor", "accepts_progress", "describe_executor", "make_executor"]
