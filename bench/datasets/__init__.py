"""Datasets by name. Built matrices are cached, so later loads are fast."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.cache import cache_dir
from bench.dataset import EHRDataset
from bench.errors import DatasetError, OptionError

LOADER_VERSION = "1"


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    load: Callable[[], EHRDataset]
    cache_key: Callable[[], str] | None = None  # None: not cached


def _eunomia() -> EHRDataset:
    from bench.datasets.eunomia import load_eunomia

    return load_eunomia()


def _eunomia_key() -> str:
    from bench.datasets.eunomia import eunomia_path

    p = eunomia_path()
    st = p.stat()
    return f"eunomia-{st.st_size}-{int(st.st_mtime)}"


def _toy() -> EHRDataset:
    from bench.datasets.toy import make_toy

    return make_toy()


REGISTRY: dict[str, DatasetEntry] = {
    "toy": DatasetEntry(
        "toy",
        "tiny simulated dataset (600 x 24, binary, three latent groups) for tests and smoke runs",
        _toy,
    ),
    "eunomia": DatasetEntry(
        "eunomia",
        "OHDSI Eunomia (Synthea, simulated): 2,694 persons x 243 concepts, binary; "
        "label = gastrointestinal hemorrhage",
        _eunomia,
        _eunomia_key,
    ),
}


def available() -> list[str]:
    return sorted(REGISTRY)


def check_names(names: list[str]) -> None:
    bad = [n for n in names if n not in REGISTRY]
    if bad:
        raise OptionError(f"unknown dataset {bad[0]!r}; valid datasets: {', '.join(available())}")


def load(name: str, use_cache: bool = True) -> EHRDataset:
    check_names([name])
    entry = REGISTRY[name]
    if entry.cache_key is None or not use_cache:
        return entry.load()
    key = hashlib.sha256(f"{LOADER_VERSION}:{entry.cache_key()}".encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{key}.npz"
    if path.exists():
        try:
            return _read_cache(path)
        except Exception:  # a corrupt cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    data = entry.load()
    _write_cache(path, data)
    return data


def _write_cache(path: Path, data: EHRDataset) -> None:
    meta = {
        "columns": list(data.columns),
        "names": None if data.names is None else list(data.names),
        "kind": data.kind,
        "name": data.name,
        "label_name": data.label_name,
        "source": data.source,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            X=data.X.astype(np.uint16 if data.kind == "count" else np.uint8),
            y=np.array([]) if data.y is None else data.y,
            has_y=np.array(data.y is not None),
            meta=np.array(json.dumps(meta)),
        )
    os.replace(tmp, path)


def _read_cache(path: Path) -> EHRDataset:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return EHRDataset(
            X=z["X"].astype(np.float32),
            y=z["y"] if bool(z["has_y"]) else None,
            **meta,
        )


__all__ = ["DatasetError", "EHRDataset", "REGISTRY", "available", "load"]
