"""The ``ray`` executor: jobs as Ray tasks on a cluster (an existing one at ``--ray-address``, else
a local instance bound to loopback), for grids that outgrow one machine. Ray is imported only
when this executor is chosen; the job function and the grid travel with the tasks.

Progress: not shown. A task's reports would need a channel back to the driver while it runs (a
Ray actor or queue that every job writes to), more machinery than a display is worth here; the
driver's bar counts finished jobs only, and ``progress`` is accepted and ignored.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.core.errors import OptionError
from bench.core.io import write_bytes
from bench.core.threads import SPIN_VAR, WAIT_POLICY_VAR, passive_waiting, pin_process_threads
from bench.executors.base import JobFunction, JobProgress, Limits
from bench.executors.process import ProcessExecutor
from bench.executors.supervision import match_threads, thread_counts
from bench.records import JobRecord

RAY_HINT = "pip install 'ehrbench[ray]'"


def _ray_job(job_fn: JobFunction, prep: Any, job: Any, want_synthetic: bool, limits: Limits,
             threads: dict[str, Any]) -> tuple[JobRecord, dict[str, bytes]]:
    """One job as a Ray task: the same job function; with limits, in a supervised child process.

    The child lets the worker's node enforce the time and memory caps exactly as the process
    executor does, whatever the cluster. Synthetic records come back as bytes, since the driver's
    directory need not exist on the worker's node.
    """
    if threads.get("budget"):
        pin_process_threads(threads["budget"])  # a worker runs one kind of job: kept for its life
    else:
        match_threads(threads)
    with tempfile.TemporaryDirectory(prefix="ehrbench-ray-") as tmp:
        synthetic_dir = Path(tmp) if want_synthetic else None
        if limits.any:
            supervisor = ProcessExecutor(1, limits, threads=threads.get("budget"))
            try:
                [(_, record)] = list(supervisor.run(job_fn, prep, [job], synthetic_dir))
            finally:
                supervisor.close()
        else:
            record = job_fn(prep, job, synthetic_dir)
        files = {p.name: p.read_bytes() for p in Path(tmp).glob("*.npz")} if want_synthetic else {}
    import ray

    record.ray_node = ray.get_runtime_context().get_node_id()  # which node ran it, in jobs/<id>.json
    return record, files


class RayExecutor:
    """Jobs as Ray tasks, at most ``jobs`` in flight, on the cluster at ``address`` or a local one.

    The prepared grid goes into the object store once. Without an address a local instance is
    started on loopback with ``jobs`` CPUs and stopped in :meth:`close`. Limits are enforced on
    the worker's node (see :func:`_ray_job`); the driver also cancels a task that gives no answer
    well past its timeout. Workers must have ehrbench installed.
    """

    name = "ray"

    def __init__(self, jobs: int = 1, limits: Limits | None = None, address: str | None = None,
                 threads: int | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise OptionError(f"--executor ray needs Ray: {RAY_HINT}") from None
        self.jobs = jobs
        self.limits = limits or Limits()
        self.address = address
        self.threads = threads  # each job's thread budget; None: the driver's counts
        self._started = False
        self._inflight: dict[Any, tuple[Any, float]] = {}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": self.jobs, "timeout_s": self.limits.timeout_s,
                "memory_mb": self.limits.memory_mb, "ray_address": self.address or "local",
                "threads_per_job": self.threads or thread_counts()["torch"]}

    def _init(self) -> Any:
        import logging

        import ray

        if ray.is_initialized():  # the caller's own session (a notebook): use it, leave it running
            return ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # the workers get the job's thread budget, else the driver's thread count (Ray would give
        # them one thread each), and idle OpenMP workers that sleep after a short spin
        wait = {k: os.environ[k] for k in (WAIT_POLICY_VAR, SPIN_VAR) if k in os.environ}
        passive_waiting(wait)
        env = {"OMP_NUM_THREADS": str(self.threads) if self.threads else
               os.environ.get("OMP_NUM_THREADS") or str(thread_counts()["torch"]), **wait}
        common = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                  "runtime_env": {"env_vars": env}}
        if self.address:
            ray.init(address=self.address, **common)
        else:
            ray.init(address="local", num_cpus=self.jobs, _node_ip_address="127.0.0.1", **common)
        self._started = True
        return ray

    def _task_options(self, ray: Any, prep: Any) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        if self.limits.memory_mb:
            need = int(self.limits.memory_mb * 2**20)
            largest = max((n.get("Resources", {}).get("memory", 0) for n in ray.nodes() if n.get("Alive")),
                          default=0)
            if need > largest:
                raise OptionError(f"--memory-mb {self.limits.memory_mb:g} exceeds the memory of every Ray "
                                  f"node (largest: {largest / 2**20:.0f} MB)")
            options["memory"] = need  # the scheduler places no more jobs on a node than fit
        gpus = ray.cluster_resources().get("GPU", 0)
        if prep.config.device != "cpu" and gpus:
            options["num_gpus"] = min(1.0, gpus / self.jobs)  # else Ray hides every GPU from the task
        return options

    def run(self, job_fn: JobFunction, prep: Any, jobs: list[Any], synthetic_dir: Path | None,
            progress: JobProgress | None = None) -> Iterator[tuple[Any, JobRecord]]:
        del progress  # not shown under Ray: see the module's docstring
        if not jobs:
            return
        ray = self._init()
        task = ray.remote(_ray_job).options(**self._task_options(ray, prep))
        prep_ref = ray.put(prep)
        threads = {"budget": self.threads} if self.threads else thread_counts()
        # the driver's own deadline is a backstop; the worker's supervisor normally answers first
        backstop = self.limits.timeout_s + max(60.0, self.limits.timeout_s) if self.limits.timeout_s else None
        queue = deque(jobs)

        def fill() -> None:
            while queue and len(self._inflight) < self.jobs:
                job = queue.popleft()
                ref = task.remote(job_fn, prep_ref, job, synthetic_dir is not None, self.limits, threads)
                self._inflight[ref] = (job, time.monotonic())

        try:
            while queue or self._inflight:
                fill()
                ready, _ = ray.wait(list(self._inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    job, t0 = self._inflight.pop(ref)
                    record = self._collect(ray, prep, ref, job, t0, synthetic_dir)
                    fill()  # the next job starts before the caller handles this one (bench.executors.process)
                    yield job, record
                if backstop:
                    for ref, (job, t0) in list(self._inflight.items()):
                        if time.monotonic() - t0 > backstop:
                            ray.cancel(ref, force=True)
                            del self._inflight[ref]
                            yield job, prep.failure(job, f"timeout: job exceeded {self.limits.timeout_s:g} s "
                                                         "(no answer from its Ray task; cancelled)",
                                                    time.monotonic() - t0)
        finally:
            self._cancel_all()

    def _collect(self, ray: Any, prep: Any, ref: Any, job: Any, t0: float,
                 synthetic_dir: Path | None) -> JobRecord:
        try:
            record, files = ray.get(ref)
        except Exception as exc:  # the task died: a crashed worker, Ray's OOM killer, a lost node
            kind = "memory" if type(exc).__name__ == "OutOfMemoryError" else "crashed"
            text = str(exc).strip().splitlines()
            return prep.failure(job, f"{kind}: {type(exc).__name__}: {text[0][:300] if text else ''}",
                                time.monotonic() - t0)
        if synthetic_dir is not None:
            for name, data in files.items():
                write_bytes(synthetic_dir / name, data)
        return record

    def _cancel_all(self) -> None:
        if not self._inflight:
            return
        import ray

        for ref in list(self._inflight):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._inflight.clear()

    def close(self) -> None:
        """Cancel what is still running and stop the local instance (or leave the cluster)."""
        self._cancel_all()
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
