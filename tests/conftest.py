from __future__ import annotations

import os

import pytest

from bench.core.data import EHRDataset
from bench.datasets.toy import make_toy

os.environ.setdefault("EHRBENCH_PROGRESS", "0")


@pytest.fixture
def toy() -> EHRDataset:
    return make_toy()


@pytest.fixture
def toy_split(toy: EHRDataset) -> tuple[EHRDataset, EHRDataset]:
    return toy.split(seed=0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write into the user's cache; the eunomia build is shared across the session."""
    monkeypatch.setenv("EHRBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
