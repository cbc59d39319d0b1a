"""How many threads a job computes with, and the one way to give a block of code exactly that many.

Why it matters. A job's arithmetic runs in thread pools that know nothing of each other: torch's
intra-op pool (OpenMP, and MKL under it), the OpenMP runtimes of scikit-learn and xgboost, and
the OpenBLAS pools of numpy and scipy. Each sizes itself to the whole machine. Two jobs side by
side on two cores then run four or more busy threads on two cores, and OpenMP's workers
spin-wait between parallel regions, so each job steals the other's time: two quick medGAN fits
side by side took 3x their time alone at torch's default thread count, 1.1x at one thread each
(issue 26). Every job therefore gets a budget of threads (:func:`thread_budget`), and its
idle OpenMP workers spin only briefly before they sleep (:func:`passive_waiting`).

The budget: all cores for one job at a time (the ``local`` executor), ``floor(cores / N)`` for
each of ``N`` jobs at once (:func:`default_threads`). ``cores`` is ``OMP_NUM_THREADS`` when the
user or a test runner set it for the whole process, else the CPUs this process may run on.

Reproducibility: a reduction split over another number of threads may round differently, so the
thread count is part of how a number was made; each job records the count it ran with
(:func:`current_threads`).

Inter-op threads (torch's pool for ``torch.jit.fork`` and a few operators) can only be set once,
before first use, so a block cannot change them; a fresh worker process sets them once
(:func:`pin_process_threads`). The generators do not use that pool.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# read when each library loads, so a worker process started inside a budget inherits it
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
SPIN_VAR = "GOMP_SPINCOUNT"  # libgomp (torch's, scikit-learn's and xgboost's OpenMP on Linux)
# Spins an idle worker makes before it sleeps: tens of microseconds, against libgomp's default of
# 300,000 (about a millisecond; what stole a neighbour's time) and PASSIVE's 0. Measured on 2 cores
# (quick fits at 2 threads, eunomia): PASSIVE made TVAE's updates 5x and medGAN's 2.2x slower
# than at 10,000 spins, since a worker woken from sleep for every small operator costs more than
# the operator; 10,000 fits as fast as the default.
SPIN_COUNT = "10000"


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity, which a container or ``taskset`` narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _env_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        n = int(value.split(",")[0])
    except ValueError:
        return None
    return n if n > 0 else None


def default_threads(jobs: int = 1) -> int:
    """Each job's share when ``jobs`` run at once: ``floor(cores / jobs)``, at least one.

    ``cores`` is ``OMP_NUM_THREADS`` when set (a cap put on this whole process, e.g. by a test
    runner's workers), else :func:`usable_cores`."""
    cores = _env_threads() or usable_cores()
    return max(1, cores // max(1, jobs))


def passive_waiting(environ: dict[str, str] | None = None) -> None:
    """Let idle OpenMP workers sleep after a short spin (``GOMP_SPINCOUNT=10000``), unless the
    user chose a wait policy (``OMP_WAIT_POLICY``) or a spin count.

    OpenMP reads the variables once, when its library loads: call this before torch, numpy or
    scikit-learn start (the CLI's entry does) and in the environment of worker processes before
    they start (the process executor does). A neighbour no longer loses whole time slices to a
    spinning thread, and a job whose operators are small (the GANs and TVAE: thousands of
    parallel regions per second) does not pay a wake-up from sleep for each of them, as it did
    under ``OMP_WAIT_POLICY=PASSIVE`` (no spin at all).
    """
    env = os.environ if environ is None else environ
    if WAIT_POLICY_VAR not in env:
        env.setdefault(SPIN_VAR, SPIN_COUNT)


def current_threads() -> int:
    """The intra-op thread count torch computes with in this process now (what a job records)."""
    import torch

    return int(torch.get_num_threads())


def _check(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"a thread budget must be a positive integer, got {k!r}")
    return k


@contextlib.contextmanager
def thread_budget(k: int) -> Iterator[int]:
    """Exactly ``k`` threads inside the block, everything as it was after it.

    Sets torch's intra-op threads (OpenMP and MKL), limits every OpenMP and BLAS pool loaded
    (threadpoolctl: scikit-learn's and xgboost's OpenMP, numpy's and scipy's OpenBLAS), and puts
    ``k`` in ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` so that a
    library loaded or a worker process started inside the block sizes its pool to ``k`` too.
    """
    import threadpoolctl
    import torch

    k = _check(k)
    saved_env = {var: os.environ.get(var) for var in THREAD_VARS}
    saved_torch = torch.get_num_threads()
    os.environ.update(dict.fromkeys(THREAD_VARS, str(k)))
    try:
        torch.set_num_threads(k)
        with threadpoolctl.threadpool_limits(limits=k):
            yield k
    finally:
        torch.set_num_threads(saved_torch)
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def pin_process_threads(k: int) -> None:
    """``k`` threads for the rest of this process's life: a worker process that runs one job.

    As :func:`thread_budget`, kept, plus torch's inter-op pool where it has not started yet."""
    import threadpoolctl
    import torch

    k = _check(k)
    os.environ.update(dict.fromkeys(THREAD_VARS, str(k)))
    torch.set_num_threads(k)
    with contextlib.suppress(RuntimeError):  # already started (or set): it stays as it is
        torch.set_num_interop_threads(k)
    threadpoolctl.threadpool_limits(limits=k)  # not a context: kept for the life of the process
