"""Atomic writes: a reader (or an interrupted run) sees the old file or the new one, never half.

Every file the project writes for later reading (job records, tables, the manifest, the dataset
cache, saved synthetic records) goes through :func:`atomic_file`. Files get the mode any other
program's new file would: ``0o666`` less the process's umask (the temporary file ``tempfile``
makes is ``0o600`` whatever the umask, so the mode is set before it replaces the target).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux's
    ``/proc/self/status``), else set and restored at once under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the current umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", fsync: bool = True) -> Iterator[IO[Any]]:
    """An open temporary file beside ``path`` that replaces ``path`` when the block ends without
    an error; on an error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if hasattr(os, "fchmod"):  # POSIX; elsewhere the temporary file keeps its mode
                os.fchmod(fh.fileno(), file_mode())
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, what: str) -> None:
    """Raise :class:`OptionError` naming ``what`` (the option that gave ``path``) unless a folder
    can be made or written at ``path``: tried, not guessed from permission bits (root passes
    those, and ``/proc`` refuses whoever asks), and nothing is left behind."""
    from bench.core.errors import OptionError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OptionError(f"{what} {path}: exists and is not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OptionError(f"{what} {path}: {probe} is a file, not a folder")
    try:
        if probe == path:  # the folder is there: a file must be creatable in it
            fd, tmp = tempfile.mkstemp(dir=path, prefix=".ehrbench-write-test-")
            os.close(fd)
            os.unlink(tmp)
        else:  # the folder would be made inside ``probe``
            os.rmdir(tempfile.mkdtemp(dir=probe, prefix=".ehrbench-write-test-"))
    except OSError as exc:
        where = "" if probe == path else f" (cannot create folders in {probe})"
        raise OptionError(f"{what} {path}: not writable{where}: {exc.strerror or exc}") from None


def write_text(path: Path, text: str) -> None:
    with atomic_file(path, "w") as fh:
        fh.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as fh:
        fh.write(data)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    write_text(path, df.to_csv(index=False, lineterminator="\n", float_format="%.10g"))


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    """``df`` as Parquet (pyarrow). A column of mixed types (a score's ``ideal``: a number or the
    name of a reference score) is written as text, None kept, since a Parquet column has one type."""
    import numbers

    out = df.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        values = out[col].dropna()
        if values.map(lambda v: isinstance(v, str)).all():
            continue
        if values.map(lambda v: isinstance(v, numbers.Real)).all():
            out[col] = pd.to_numeric(out[col], errors="coerce")
        else:
            out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
    with atomic_file(path, "wb") as fh:
        out.to_parquet(fh, index=False)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)
