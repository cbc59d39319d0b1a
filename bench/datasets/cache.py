"""The npz cache of built datasets: ``$EHRBENCH_CACHE``, else ``~/.cache/ehrbench``.

A built matrix is stored under a key that includes the dataset's options and the size and
modification time of every file it read, so an edited file or a new option rebuilds and an
unchanged one loads from the cache. A corrupt cache file is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError
from bench.core.io import atomic_file
from bench.datasets.spec import DatasetEntry

LOADER_VERSION = "2"


def cache_dir() -> Path:
    root = os.environ.get("EHRBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ehrbench"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def build(entry: DatasetEntry, options: dict[str, Any], data_dir: str | None, use_cache: bool = True) -> EHRDataset:
    """The dataset of ``entry`` with resolved ``options``: from the cache when its input is unchanged."""
    if entry.cache_key is None or not use_cache:
        return entry.load(data_dir, **options)
    try:
        stamp = entry.cache_key(data_dir, **dict(options))
    except OSError as exc:
        raise DatasetError(f"dataset {entry.name!r}: cannot read {exc.filename or exc}: {exc.strerror}") from None
    if stamp is None:  # the loader cannot tell whether its input changed: always build
        return entry.load(data_dir, **options)
    key = hashlib.sha256(f"{LOADER_VERSION}:{entry.name}:{stamp}".encode()).hexdigest()[:16]
    path = cache_dir() / f"{entry.name}-{key}.npz"
    if path.exists():
        try:
            return read_cache(path)
        except Exception:  # a corrupt cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    data = entry.load(data_dir, **options)
    with contextlib.suppress(OSError):  # a read-only or full cache directory costs speed, not the run
        write_cache(path, data)
    return data


def write_cache(path: Path, data: EHRDataset) -> None:
    meta = {
        "columns": list(data.columns),
        "names": None if data.names is None else list(data.names),
        "kind": data.kind,
        "name": data.name,
        "label_name": data.label_name,
        "source": data.source,
    }
    small = np.uint16 if data.kind == "count" else np.uint8
    if data.is_sparse:
        M = data.X_sparse
        if data.kind == "count" and M.nnz and M.data.max() > np.iinfo(np.uint16).max:
            small = np.uint32
        arrays = {
            "data": M.data.astype(small),
            "indices": M.indices,
            "indptr": M.indptr,
            "shape": np.array(M.shape, dtype=np.int64),
        }
    else:
        if data.kind == "count" and data.X.max() > np.iinfo(np.uint16).max:
            small = np.uint32
        arrays = {"X": data.X.astype(small)}
    with atomic_file(path, "wb", fsync=False) as fh:
        np.savez_compressed(
            fh,
            **arrays,
            y=np.array([]) if data.y is None else data.y,
            has_y=np.array(data.y is not None),
            meta=np.array(json.dumps(meta)),
        )


def read_cache(path: Path) -> EHRDataset:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if "X" in z.files:
            X: Any = z["X"].astype(np.float32)
        else:
            shape = tuple(int(s) for s in z["shape"])
            X = sparse.csr_array((z["data"].astype(np.float32), z["indices"], z["indptr"]), shape=shape)
        return EHRDataset(
            X=X,
            y=z["y"] if bool(z["has_y"]) else None,
            **meta,
        )
