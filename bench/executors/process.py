"""The ``process`` executor: a child process per job, at most ``jobs`` at once, so that the parent
can stop a job that runs past its time or memory limit and record why, while the other jobs go
on. It runs the same job function, with the same seeds and thread counts, as a serial run, so its
scores are identical; only the timings measure where the job ran.

Threads: with ``threads`` every child computes in exactly that many (torch, OpenMP and BLAS
pools: :func:`bench.core.threads.pin_process_threads`; the command line gives each of ``-j N``
jobs ``floor(cores / N)``); without, in the parent's counts. The fork server starts with
``GOMP_SPINCOUNT=10000`` (unless a wait policy or spin count is set), so a job's idle OpenMP
workers spin only microseconds before they sleep, instead of a millisecond on a core its
neighbour needs (:func:`bench.core.threads.passive_waiting`).

Progress: with a ``progress`` callback, the child sends ``("progress", done, total, unit)``
tuples over the same pipe that carries its record (throttled at the source to a few a second,
see :meth:`generators.base.Generator._report_progress`); the parent passes each one on, with its
job, while it supervises.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import describe_error
from bench.core.threads import passive_waiting, pin_process_threads
from bench.executors.base import JobFunction, JobProgress, Limits
from bench.executors.supervision import (
    die_with_parent,
    end_own_group,
    exit_description,
    kill_tree,
    lead_own_group,
    match_threads,
    thread_counts,
    tree_rss_mb,
)
from bench.records import JobRecord

POLL_S = 0.1  # how often a supervisor looks at its jobs' clocks and memory
_PACKAGES = ("generators.", "bench.", "metrics.")  # the project's own modules: safe to preload
PROGRESS = "progress"  # the tag of a progress message on a job's pipe (records are not tuples)


class _PipeProgress:
    """A job's progress callback in its child process: each report goes up the record's pipe."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __call__(self, done: int, total: int, unit: str) -> None:
        self.conn.send((PROGRESS, int(done), int(total), str(unit)))


def _process_job_main(job_fn: JobFunction, prep_path: str, job: Any, synthetic_dir: Path | None,
                      threads: dict[str, Any], conn: Any, report: bool = False) -> None:
    """A job's child process: the same job function as a serial run, its record sent back (or,
    when the grid cannot even be loaded, the error's text), its progress before it if ``report``."""
    lead_own_group()
    die_with_parent()
    t0 = time.perf_counter()
    try:
        with open(prep_path, "rb") as fh:
            prep = pickle.load(fh)
    except BaseException as exc:
        conn.send(f"could not load the job: {describe_error(exc)}")
        return
    try:
        if threads.get("budget"):
            pin_process_threads(threads["budget"])
        else:
            match_threads(threads)
        if report:
            record = job_fn(prep, job, synthetic_dir, progress=_PipeProgress(conn))
        else:
            record = job_fn(prep, job, synthetic_dir)
    except BaseException as exc:  # run_job never raises for a generator's fault; this is the rest
        record = prep.failure(job, f"job process failed: {describe_error(exc)}", time.perf_counter() - t0)
    conn.send(record)  # in the pipe once this returns: nothing below can lose it
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    end_own_group()


class _Running:
    """One job's child process, watched by the parent."""

    def __init__(self, ctx: Any, job_fn: JobFunction, prep_path: str, job: Any, synthetic_dir: Path | None,
                 threads: dict[str, Any], progress: JobProgress | None = None) -> None:
        self.job = job
        self.progress = progress
        self.reader, writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_process_job_main,
            args=(job_fn, prep_path, job, synthetic_dir, threads, writer, progress is not None),
            name=f"ehrbench-{job.id}", daemon=False,
        )
        self.process.start()  # returns once the fork server (started and preloaded once) forked it
        self.started = time.monotonic()  # the job's clock: its own time, not the server's start
        writer.close()  # the child holds the only writer: its death reads as end of file
        import psutil

        try:
            self.handle: Any = psutil.Process(self.process.pid)
        except psutil.NoSuchProcess:  # gone already: check() reports how it ended
            self.handle = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, prep: Any, limits: Limits) -> JobRecord | None:
        """The job's record once it has one (finished, killed or crashed); None while it runs."""
        record = self._receive()
        if record is not None:
            return self._finish(prep, record)
        if not self.process.is_alive():
            record = self._receive()  # sent just before it exited
            if record is not None:
                return self._finish(prep, record)
            self.process.join()
            return self._fail(prep, f"crashed: the job's process died with "
                                    f"{exit_description(self.process.exitcode)} before returning a record")
        if limits.timeout_s and self.elapsed > limits.timeout_s:
            return self._fail(prep, f"timeout: job exceeded {limits.timeout_s:g} s")
        if limits.memory_mb and self.handle is not None:
            rss = tree_rss_mb(self.handle)
            if rss > limits.memory_mb:
                return self._fail(prep, f"memory: {rss:.0f} MB exceeded the cap of {limits.memory_mb:g} MB")
        return None

    def _receive(self) -> JobRecord | str | None:
        """The record if it has come; progress messages before it are passed on on the way."""
        try:
            while self.reader.poll():
                message = self.reader.recv()
                if not (isinstance(message, tuple) and message and message[0] == PROGRESS):
                    return message
                self._progress(*message[1:])
        except (EOFError, OSError):
            return None
        return None

    def _progress(self, done: int, total: int, unit: str) -> None:
        if self.progress is None:
            return
        try:
            self.progress(self.job, done, total, unit)
        except Exception:  # a broken display must not end the run
            self.progress = None

    def _finish(self, prep: Any, record: JobRecord | str) -> JobRecord:
        self.process.join(timeout=10)
        self.kill()  # anything the job left running
        if isinstance(record, str):  # the child could not even load the job
            return prep.failure(self.job, record, self.elapsed)
        return record

    def _fail(self, prep: Any, error: str) -> JobRecord:
        wall = self.elapsed
        self.kill()
        return prep.failure(self.job, error, wall)

    def kill(self) -> None:
        if self.handle is not None:
            kill_tree(self.handle)
        self.process.join(timeout=10)
        self.reader.close()
        with contextlib.suppress(ValueError):
            self.process.close()


_PRELOAD = ("torch", "torch._inductor", "sklearn.linear_model", "sklearn.metrics")


class ProcessExecutor:
    """A child process per job, at most ``jobs`` at once; the parent enforces the limits.

    Children come from a fork server (``forkserver`` context) that has imported the job
    function's module, the grid's generators and metrics once, so a job starts in a fraction of a second with none of
    the parent's state (threads, CUDA, open files). Each child leads its own process group; a job
    past its time or memory cap is killed with every process it started and recorded as an error
    with the reason, and the others go on. The data goes to the children once, as a file.
    """

    name = "process"

    def __init__(self, jobs: int = 1, limits: Limits | None = None, threads: int | None = None) -> None:
        self.jobs = jobs
        self.limits = limits or Limits()
        self.threads = threads  # each job's thread budget; None: the parent's counts
        self._running: list[_Running] = []
        self._tmp: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": self.jobs, "timeout_s": self.limits.timeout_s,
                "memory_mb": self.limits.memory_mb, "start_method": "forkserver",
                "threads_per_job": self.threads or thread_counts()["torch"]}

    def _context(self, job_fn: JobFunction, prep: Any) -> Any:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        # what every job imports, once in the server instead of in every child (seconds each):
        # torch._inductor comes with torch.use_deterministic_algorithms in seed_everything. A
        # generator class of a package is preloaded; one defined in a script or a test module is
        # imported by each job (by reference, with the grid)
        preload = [job_fn.__module__, *_PRELOAD, *sorted({m.__module__ for m in prep.metric_classes})]
        preload += [p.cls.__module__ for p in prep.plans if p.cls.__module__.startswith(_PACKAGES)]
        ctx.set_forkserver_preload(list(dict.fromkeys(preload)))  # only read when the server starts
        passive_waiting()  # the server copies this environment when it starts; its children inherit it
        return ctx

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None,
            progress: JobProgress | None = None) -> Iterator[tuple[Any, JobRecord]]:
        if not jobs:
            return
        ctx = self._context(job_fn, prep)
        self._tmp = tempfile.mkdtemp(prefix="ehrbench-jobs-")
        prep_path = os.path.join(self._tmp, "prepared.pkl")
        with open(prep_path, "wb") as fh:
            pickle.dump(prep, fh, protocol=pickle.HIGHEST_PROTOCOL)
        threads = {"budget": self.threads} if self.threads else thread_counts()
        queue = deque(jobs)

        def fill() -> None:
            while queue and len(self._running) < self.jobs:
                self._running.append(_Running(ctx, job_fn, prep_path, queue.popleft(), synthetic_dir, threads,
                                              progress))

        try:
            while queue or self._running:
                fill()
                self._wait()
                for r in list(self._running):
                    record = r.check(prep, self.limits)
                    if record is not None:
                        self._running.remove(r)
                        # the freed slot's next job starts before the caller sees this one: whatever
                        # the caller does with a record (write it, rebuild tables) never idles a worker
                        fill()
                        yield r.job, record
        finally:
            self.close()

    def _wait(self) -> None:
        from multiprocessing.connection import wait

        handles = [r.reader for r in self._running] + [r.process.sentinel for r in self._running]
        wait(handles, timeout=POLL_S)

    def close(self) -> None:
        """Kill every job still running (Ctrl-C, an error in the harness) and remove the data file."""
        while self._running:
            self._running.pop().kill()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
