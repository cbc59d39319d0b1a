"""Whether a run folder's run is still going: the manifest as every reader should take it.

A run records in its manifest the process writing it (``process``: pid, host, the kernel's boot
id and the process's start time) and every job it was asked for (``jobs_planned``), and says
``running`` until it ends. Ctrl-C, SIGTERM and a crash are caught by the harness, which writes
``interrupted`` and the missing jobs; SIGKILL (``kill -9``, the kernel's out-of-memory killer, a
scheduler's hard limit) and a machine that stops leave ``running`` behind. So a reader -- the
tables' caption, :class:`bench.api.BenchmarkResult`, ``bench report``, a resumed run -- asks
:func:`resolve`: a ``running`` manifest whose process is gone *on this host* is an interrupted run
(``interrupted (process gone: ...)``), its missing jobs the planned ones without a record in
``jobs/``. On another host nothing can be told and the manifest stays as written.

Why the boot id and the start time beside the pid: pids are reused, so a pid alone could name a
later, unrelated process; the same pid started at the same clock tick since the same boot cannot.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from bench.core.errors import OptionError
from bench.core.io import read_json

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc (Linux); None elsewhere
    or when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[19])


def this_process() -> dict[str, Any]:
    """What a manifest records of the process writing the run."""
    stat = _proc_stat(os.getpid())
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
            "start_ticks": stat[1] if stat else None}


def process_state(proc: dict[str, Any] | None) -> str:
    """``alive``, ``gone`` or ``unknown`` (no record of it, or another host) for a manifest's ``process``."""
    if not isinstance(proc, dict) or not isinstance(proc.get("pid"), int) or proc.get("host") != socket.gethostname():
        return UNKNOWN
    boot = _boot_id()
    if proc.get("boot_id") and boot and proc["boot_id"] != boot:
        return GONE  # the machine restarted since
    pid = proc["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:  # exists, another user's
        pass
    except OSError:
        return UNKNOWN
    stat = _proc_stat(pid)
    if stat is not None:
        state, start = stat
        if state in ("Z", "X"):  # killed, not yet reaped by its parent
            return GONE
        if proc.get("start_ticks") is not None and start != proc["start_ticks"]:
            return GONE  # the pid was reused
    return ALIVE


def _is_me(proc: dict[str, Any]) -> bool:
    return proc.get("pid") == os.getpid() and proc.get("host") == socket.gethostname()


def running_manifest(jobs: list[Any]) -> dict[str, Any]:
    """What a manifest says while its run goes: ``status`` running, the ``process`` writing it and
    ``jobs_planned``, every job of the run (``bench.config.Job``) with the id its record is named by."""
    return {"status": "running", "process": this_process(),
            "jobs_planned": [{"generator": j.spec.label, "dataset": j.dataset, "seed": j.seed, "id": j.id}
                             for j in jobs]}


def resolve(manifest: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """``manifest`` as a reader should take it: unchanged, unless it says ``running`` and its
    process is gone on this host; then status ``interrupted``, why, and the missing jobs (those
    planned without a record in ``run_dir/jobs``), as the harness writes them on Ctrl-C."""
    if manifest.get("status") != "running" or process_state(manifest.get("process")) != GONE:
        return manifest
    proc = manifest["process"]
    planned = manifest.get("jobs_planned") or []
    missing = [j for j in planned if not (run_dir / "jobs" / f"{j.get('id')}.json").is_file()]
    return {
        **manifest,
        "status": "interrupted",
        "interrupted": (f"interrupted (process gone: pid {proc['pid']} on {proc['host']} ended without a word -- "
                        "killed with SIGKILL, out of memory, or the machine stopped)"),
        "jobs": {**(manifest.get("jobs") or {}), "total": len(planned), "missing": len(missing)},
        "missing_jobs": [{"generator": j["generator"], "dataset": j["dataset"], "seed": j["seed"]} for j in missing],
    }


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """``run_dir/manifest.json``, resolved (:func:`resolve`); read errors propagate."""
    manifest = read_json(run_dir / "manifest.json")
    return resolve(manifest, run_dir) if isinstance(manifest, dict) else manifest


def held_elsewhere(manifest: dict[str, Any]) -> bool:
    """Whether another process on this host is running the run of ``manifest`` now."""
    proc = manifest.get("process")
    return (manifest.get("status") == "running" and isinstance(proc, dict) and not _is_me(proc)
            and process_state(proc) == ALIVE)


def check_not_held(run_dir: Path, manifest: dict[str, Any], option: str = "--out") -> None:
    """Refuse a run folder that another live process on this host is writing: two runs of one
    folder would overwrite each other's records and manifest."""
    if held_elsewhere(manifest):
        proc = manifest["process"]
        raise OptionError(f"{run_dir} is being run by process {proc['pid']} on this host (since "
                          f"{manifest.get('started', '?')}); wait for it to finish, stop it, or name another {option}")
