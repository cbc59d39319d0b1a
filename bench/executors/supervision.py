"""Process supervision shared by the process and Ray executors: a job's process dies with its
parent, is killed with everything it started, has its memory measured as a tree, and computes
with the parent's thread counts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, so a killed run leaves no job behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def lead_own_group() -> None:
    """Make this process the leader of a new process group: the parent then kills the job with
    everything it started by killing the group."""
    os.setpgrp()


def end_own_group() -> None:
    """SIGKILL this process's group: the job ends with anything it left running."""
    os.killpg(0, signal.SIGKILL)


def tree_rss_mb(proc: Any) -> float:
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


def kill_tree(proc: Any) -> None:
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
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own group (lead_own_group)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


def exit_description(code: int | None) -> str:
    """A process's exit code in words, naming the signal (and the OOM killer's usual one)."""
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


def thread_counts() -> dict[str, Any]:
    """This process's thread counts (torch, and each BLAS/OpenMP library loaded)."""
    import threadpoolctl
    import torch

    pools = {info["prefix"]: info["num_threads"] for info in threadpoolctl.threadpool_info()}
    return {"torch": torch.get_num_threads(), "pools": pools}


def match_threads(parent: dict[str, Any]) -> None:
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
