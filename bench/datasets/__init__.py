"""Datasets by name, with options, loaded into the one data model (``EHRDataset``).

A dataset is named the way generators are (the grammar of :mod:`bench.core.options`): ``name`` or
``name:key=value,key=value`` (``mimic3:codes=full,kind=count``); list values use ``+``
(``omop:domains=condition+drug``).

Loaders that read user files find them through an option (``path=``), else ``data_dir`` (the
CLI's ``--data-dir``), else an environment variable named in the entry. Built matrices are cached
(:mod:`bench.datasets.cache`). The registry is :mod:`bench.datasets.registry`; each adapter module
(``toy``, ``eunomia``, ``omop``, ``mimic3``, ``rhc``, ``files``, ``synthetic_mimic``) turns one
source into an ``EHRDataset`` and imports only ``bench.core``.
"""

from __future__ import annotations

import os
from typing import Any

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError, OptionError
from bench.core.options import DatasetSpec
from bench.datasets.cache import build
from bench.datasets.registry import (
    REGISTRY,
    available,
    check_names,
    describe_all,
    describe_options,
    entry,
    resolve,
)
from bench.datasets.spec import DatasetEntry, Option


def load(
    name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None, use_cache: bool = True, **options: Any
) -> EHRDataset:
    """Build (or read from the cache) one dataset.

    ``name`` may carry options (``"mimic3:codes=full"``); keyword ``options`` add to them. Bad
    names or options raise OptionError; unreadable or malformed data raise DatasetError naming
    the file, column or row.
    """
    spec = name if isinstance(name, DatasetSpec) else DatasetSpec.parse(name)
    clash = sorted(set(spec.options) & set(options))
    if clash:
        raise OptionError(f"dataset {spec.name!r}: option {clash[0]!r} given twice")
    found, opts = resolve(DatasetSpec(spec.name, {**spec.options, **options}))
    return build(found, opts, found.data_dir(data_dir), use_cache)


__all__ = [
    "REGISTRY",
    "DatasetEntry",
    "DatasetError",
    "DatasetSpec",
    "EHRDataset",
    "Option",
    "available",
    "build",
    "check_names",
    "describe_all",
    "describe_options",
    "entry",
    "load",
    "resolve",
]
