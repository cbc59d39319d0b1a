"""Where jobs run. Every executor yields (job, record) as jobs finish; results never depend on it.

``local`` runs jobs one after another in this process. ``process`` runs each job in a child
process of its own, at most ``jobs`` at once, so that the parent can stop a job that runs past
its time or memory limit and record why, while the other jobs go on. ``ray`` hands the jobs to a
Ray cluster (an existing one at ``--ray-address``, else a local instance bound to loopback), for
grids that outgrow one machine; Ray is imported only when this executor is chosen.

Every executor runs the same :func:`bench.harness.run_job` with the same seeds and the same thread
counts as a serial run, so the scores it yields are identical to the serial run's; only the
timings (``timings.csv``, ``jobs.csv``) measure where the job ran.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.core.errors import OptionError

if TYPE_CHECKING:
    from bench.harness import Job, Prepared

EXECUTORS = ("local", "process", "ray")
RAY_HINT = "pip install 'ehrbench[ray]'"
POLL_S = 0.1  # how often a supervisor looks at its jobs' clocks and memory


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

    def run(self, prep: Prepared, jobs: list[Job], synthetic_dir: Path | None
            ) -> Iterator[tuple[Job, dict[str, Any]]]: ...

    def close(self) -> None: ...


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

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": 1}


def make_executor(kind: str = "local", jobs: int = 1, limits: Limits | None = None, **options: Any) -> Executor:
    """The executor named on the command line; every bad combination is refused before any work."""
    if kind not in EXECUTORS:
        raise OptionError(f"unknown executor {kind!r}; valid executors: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs}")
    ray_address = options.pop("ray_address", None)
    if options:
        raise OptionError(f"unknown executor option {sorted(options)[0]!r}")
    if ray_address and kind != "ray":
        raise OptionError("--ray-address needs --executor ray")
    limits = limits or Limits()
    if kind == "local":
        if jobs > 1:
            raise OptionError("--jobs above 1 runs jobs in parallel: it needs --executor process or ray")
        return SerialExecutor(limits)
    if kind == "process":
        return ProcessExecutor(jobs, limits)
    return RayExecutor(jobs, limits, address=ray_address)


def describe_executor(executor: object) -> dict[str, Any]:
    """What the manifest records about where the jobs ran (third-party executors included)."""
    describe = getattr(executor, "describe", None)
    if callable(describe):
        return describe()
    return {"name": getattr(executor, "name", type(executor).__name__)}


def device_info(requested: str) -> dict[str, Any]:
    """The device asked for and the one it resolves to here, for the manifest.

    Generators resolve ``auto`` themselves; this records what it means on the machine that
    started the run (a Ray worker resolves it on its own node).
    """
    info: dict[str, Any] = {"requested": requested, "resolved": "cpu", "name": _cpu_name()}
    if requested != "cpu":
        from generators._torch import resolve_device

        device = resolve_device(requested)  # raises OptionError for CUDA without CUDA
        info["resolved"] = str(device)
        if device.type == "cuda":
            import torch

            info["name"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------ shared by the executors
def error_record(prep: Prepared, job: Job, error: str, wall_s: float | None = None) -> dict[str, Any]:
    """The record of a job that never returned one (killed, crashed): the keys ``run_job`` gives."""
    train, _ = prep.splits[job.dataset]
    return {
        "generator": job.spec.label,
        "dataset": job.dataset,
        "seed": job.seed,
        "status": "error",
        "error": error,
        "fit_s": None,
        "sample_s": None,
        "peak_mem_mb": None,
        "gpu_peak_mem_mb": None,
        "n_synthetic": prep.config.n_synthetic or train.n_records,
        "params": {},
        "diagnostics": {},
        "scores": [],
        "history": [],
        "wall_s": wall_s,
    }


def _extra_generators(prep: Prepared) -> dict[str, type]:
    """Generators registered at run time (notebooks, tests) that the grid uses.

    A fresh process knows only the built-in and entry-point generators, so these travel with the
    job (pickled by reference: their module must be importable where the job runs).
    """
    from generators import registry

    extra = getattr(registry, "_extra", {})
    return {s.name: extra[s.name] for s in prep.specs if s.name in extra}


def _register(extras: dict[str, type]) -> None:
    from generators import registry

    for name, cls in extras.items():
        registry.register(cls, name)


def _thread_counts() -> dict[str, Any]:
    """This process's thread counts (torch, and each BLAS/OpenMP library loaded)."""
    import threadpoolctl
    import torch

    pools = {info["prefix"]: info["num_threads"] for info in threadpoolctl.threadpool_info()}
    return {"torch": torch.get_num_threads(), "pools": pools}


def _match_threads(parent: dict[str, Any]) -> None:
    """Use the parent's thread counts, so that no executor changes a job's numerics.

    A child inherits the environment and normally gets the same defaults; a Ray worker does not
    (Ray sets OMP_NUM_THREADS to the task's CPUs), and a reduction split over another number of
    threads may round differently.
    """
    import threadpoolctl
    import torch

    if parent["torch"] and torch.get_num_threads() != parent["torch"]:
        torch.set_num_threads(parent["torch"])
    here = {info["prefix"]: info["num_threads"] for info in threadpoolctl.threadpool_info()}
    differ = {p: n for p, n in parent["pools"].items() if p in here and here[p] != n}
    if differ:
        threadpoolctl.threadpool_limits(limits=differ)  # kept for the life of the process


def _exit_description(code: int | None) -> str:
    if code is None:
        return "an unknown status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = "; the system may have run out of memory" if -code == signal.SIGKILL else ""
        return f"exit code {code} ({name}{hint})"
    return f"exit code {code}"


# ------------------------------------------------------------------------------ process executor
def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, so a killed run leaves no job behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _process_job_main(prep_path: str, job: Job, synthetic_dir: Path | None, extras: dict[str, type],
                      threads: dict[str, Any], conn: Any) -> None:
    """A job's child process: the same ``run_job`` as a serial run, its record sent back."""
    os.setpgrp()  # its own process group: the parent kills the job with everything it started
    _die_with_parent()
    from bench.harness import _describe_error, run_job

    t0 = time.perf_counter()
    try:
        with open(prep_path, "rb") as fh:
            prep = pickle.load(fh)
    except BaseException as exc:
        conn.send({"status": "error", "error": f"could not load the job: {_describe_error(exc)}"})
        return
    try:
        _register(extras)
        _match_threads(threads)
        record = run_job(prep, job, synthetic_dir)
    except BaseException as exc:  # run_job never raises for a generator's fault; this is the rest
        record = error_record(prep, job, f"job process failed: {_describe_error(exc)}",
                              time.perf_counter() - t0)
    conn.send(record)  # in the pipe once this returns: nothing below can lose it
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os.killpg(0, signal.SIGKILL)  # the job ends with anything it left running in its group


def _tree_rss_mb(proc: Any) -> float:
    """Resident memory of a process (a psutil handle) and all its descendants, in MB."""
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total / 2**20


def _kill_tree(proc: Any) -> None:
    """SIGKILL a job's process, its process group and every descendant (even one that left the group).

    ``proc`` is the psutil handle taken when the job started, so a pid reused since is never hit.
    The group is killed even after its leader died: a group id stays reserved while any member
    lives, so it still names the job's leftovers.
    """
    import psutil

    procs = []
    with contextlib.suppress(psutil.NoSuchProcess):
        if proc.is_running():
            procs = [proc, *proc.children(recursive=True)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own group (os.setpgrp)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


class _Running:
    """One job's child process, watched by the parent."""

    def __init__(self, ctx: Any, prep_path: str, job: Job, synthetic_dir: Path | None,
                 extras: dict[str, type], threads: dict[str, Any]) -> None:
        self.job = job
        self.reader, writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_process_job_main, args=(prep_path, job, synthetic_dir, extras, threads, writer),
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

    def check(self, prep: Prepared, limits: Limits) -> dict[str, Any] | None:
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
                                    f"{_exit_description(self.process.exitcode)} before returning a record")
        if limits.timeout_s and self.elapsed > limits.timeout_s:
            return self._fail(prep, f"timeout: job exceeded {limits.timeout_s:g} s")
        if limits.memory_mb and self.handle is not None:
            rss = _tree_rss_mb(self.handle)
            if rss > limits.memory_mb:
                return self._fail(prep, f"memory: {rss:.0f} MB exceeded the cap of {limits.memory_mb:g} MB")
        return None

    def _receive(self) -> dict[str, Any] | None:
        try:
            if self.reader.poll():
                return self.reader.recv()
        except (EOFError, OSError):
            return None
        return None

    def _finish(self, prep: Prepared, record: dict[str, Any]) -> dict[str, Any]:
        self.process.join(timeout=10)
        self.kill()  # anything the job left running
        if "generator" not in record:  # the child could not even load the job
            return error_record(prep, self.job, record.get("error", "job process failed"), self.elapsed)
        return record

    def _fail(self, prep: Prepared, error: str) -> dict[str, Any]:
        wall = self.elapsed
        self.kill()
        return error_record(prep, self.job, error, wall)

    def kill(self) -> None:
        if self.handle is not None:
            _kill_tree(self.handle)
        self.process.join(timeout=10)
        self.reader.close()
        with contextlib.suppress(ValueError):
            self.process.close()


_PRELOAD = ("bench.harness", "torch", "torch._inductor", "sklearn.linear_model", "sklearn.metrics")


class ProcessExecutor:
    """A child process per job, at most ``jobs`` at once; the parent enforces the limits.

    Children come from a fork server (``forkserver`` context) that has imported the harness, the
    grid's generators and metrics once, so a job starts in a fraction of a second with none of
    the parent's state (threads, CUDA, open files). Each child leads its own process group; a job
    past its time or memory cap is killed with every process it started and recorded as an error
    with the reason, and the others go on. The data goes to the children once, as a file.
    """

    name = "process"

    def __init__(self, jobs: int = 1, limits: Limits | None = None) -> None:
        self.jobs = jobs
        self.limits = limits or Limits()
        self._running: list[_Running] = []
        self._tmp: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": self.jobs, "timeout_s": self.limits.timeout_s,
                "memory_mb": self.limits.memory_mb, "start_method": "forkserver"}

    def _context(self, prep: Prepared) -> Any:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        # what every job imports, once in the server instead of in every child (seconds each):
        # torch._inductor comes with torch.use_deterministic_algorithms in seed_everything
        preload = [*_PRELOAD, *sorted({m.__module__ for m in prep.metric_classes})]
        from generators import registry

        extras = _extra_generators(prep)
        for spec in prep.specs:
            if spec.name not in extras:  # built-in or plugin; run-time classes are imported per job
                with contextlib.suppress(Exception):
                    preload.append(registry.get_class(spec.name).__module__)
        ctx.set_forkserver_preload(list(dict.fromkeys(preload)))  # only read when the server starts
        return ctx

    def run(self, prep: Prepared, jobs: list[Job], synthetic_dir: Path | None) -> Iterator[tuple[Job, dict[str, Any]]]:
        if not jobs:
            return
        ctx = self._context(prep)
        self._tmp = tempfile.mkdtemp(prefix="ehrbench-jobs-")
        prep_path = os.path.join(self._tmp, "prepared.pkl")
        with open(prep_path, "wb") as fh:
            pickle.dump(prep, fh, protocol=pickle.HIGHEST_PROTOCOL)
        extras = _extra_generators(prep)
        threads = _thread_counts()
        queue = deque(jobs)
        try:
            while queue or self._running:
                while queue and len(self._running) < self.jobs:
                    self._running.append(_Running(ctx, prep_path, queue.popleft(), synthetic_dir, extras, threads))
                self._wait()
                for r in list(self._running):
                    record = r.check(prep, self.limits)
                    if record is not None:
                        self._running.remove(r)
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


# ---------------------------------------------------------------------------------- ray executor
def _ray_job(prep: Prepared, job: Job, want_synthetic: bool, limits: Limits, extras: dict[str, type],
             threads: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One job as a Ray task: the same ``run_job``; with limits, in a supervised child process.

    The child lets the worker's node enforce the time and memory caps exactly as the process
    executor does, whatever the cluster. Synthetic records come back as bytes, since the driver's
    directory need not exist on the worker's node.
    """
    from bench.harness import run_job

    _register(extras)
    _match_threads(threads)
    with tempfile.TemporaryDirectory(prefix="ehrbench-ray-") as tmp:
        synthetic_dir = Path(tmp) if want_synthetic else None
        if limits.any:
            supervisor = ProcessExecutor(1, limits)
            try:
                [(_, record)] = list(supervisor.run(prep, [job], synthetic_dir))
            finally:
                supervisor.close()
        else:
            record = run_job(prep, job, synthetic_dir)
        files = {p.name: p.read_bytes() for p in Path(tmp).glob("*.npz")} if want_synthetic else {}
    import ray

    record["ray_node"] = ray.get_runtime_context().get_node_id()  # which node ran it, in jobs/<id>.json
    return record, files


class RayExecutor:
    """Jobs as Ray tasks, at most ``jobs`` in flight, on the cluster at ``address`` or a local one.

    The prepared grid goes into the object store once. Without an address a local instance is
    started on loopback with ``jobs`` CPUs and stopped in :meth:`close`. Limits are enforced on
    the worker's node (see :func:`_ray_job`); the driver also cancels a task that gives no answer
    well past its timeout. Workers must have ehrbench installed.
    """

    name = "ray"

    def __init__(self, jobs: int = 1, limits: Limits | None = None, address: str | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise OptionError(f"--executor ray needs Ray: {RAY_HINT}") from None
        self.jobs = jobs
        self.limits = limits or Limits()
        self.address = address
        self._started = False
        self._inflight: dict[Any, tuple[Job, float]] = {}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": self.jobs, "timeout_s": self.limits.timeout_s,
                "memory_mb": self.limits.memory_mb, "ray_address": self.address or "local"}

    def _init(self) -> Any:
        import logging

        import ray

        if ray.is_initialized():  # the caller's own session (a notebook): use it, leave it running
            return ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # the workers get the driver's thread count (Ray would give them one thread each)
        env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(_thread_counts()["torch"])}
        common = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                  "runtime_env": {"env_vars": env}}
        if self.address:
            ray.init(address=self.address, **common)
        else:
            ray.init(address="local", num_cpus=self.jobs, _node_ip_address="127.0.0.1", **common)
        self._started = True
        return ray

    def _task_options(self, ray: Any, prep: Prepared) -> dict[str, Any]:
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

    def run(self, prep: Prepared, jobs: list[Job], synthetic_dir: Path | None) -> Iterator[tuple[Job, dict[str, Any]]]:
        if not jobs:
            return
        ray = self._init()
        task = ray.remote(_ray_job).options(**self._task_options(ray, prep))
        prep_ref = ray.put(prep)
        extras = _extra_generators(prep)
        threads = _thread_counts()
        # the driver's own deadline is a backstop; the worker's supervisor normally answers first
        backstop = self.limits.timeout_s + max(60.0, self.limits.timeout_s) if self.limits.timeout_s else None
        queue = deque(jobs)
        try:
            while queue or self._inflight:
                while queue and len(self._inflight) < self.jobs:
                    job = queue.popleft()
                    ref = task.remote(prep_ref, job, synthetic_dir is not None, self.limits, extras, threads)
                    self._inflight[ref] = (job, time.monotonic())
                ready, _ = ray.wait(list(self._inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    job, t0 = self._inflight.pop(ref)
                    yield job, self._collect(ray, prep, ref, job, t0, synthetic_dir)
                if backstop:
                    for ref, (job, t0) in list(self._inflight.items()):
                        if time.monotonic() - t0 > backstop:
                            ray.cancel(ref, force=True)
                            del self._inflight[ref]
                            yield job, error_record(prep, job, f"timeout: job exceeded {self.limits.timeout_s:g} s "
                                                               "(no answer from its Ray task; cancelled)",
                                                    time.monotonic() - t0)
        finally:
            self._cancel_all()

    def _collect(self, ray: Any, prep: Prepared, ref: Any, job: Job, t0: float,
                 synthetic_dir: Path | None) -> dict[str, Any]:
        try:
            record, files = ray.get(ref)
        except Exception as exc:  # the task died: a crashed worker, Ray's OOM killer, a lost node
            kind = "memory" if type(exc).__name__ == "OutOfMemoryError" else "crashed"
            text = str(exc).strip().splitlines()
            return error_record(prep, job, f"{kind}: {type(exc).__name__}: {text[0][:300] if text else ''}",
                                time.monotonic() - t0)
        if synthetic_dir is not None:
            synthetic_dir.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                tmp = synthetic_dir / f".{name}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, synthetic_dir / name)
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
