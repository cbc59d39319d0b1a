from __future__ import annotations

import os
from collections.abc import Iterator

if os.environ.get("PYTEST_XDIST_WORKER"):
    # A parallel run (-n 2): one thread per worker process, set before numpy, torch or xgboost
    # start their thread pools. Two workers of two OpenMP threads each on two cores spin-wait on
    # each other; measured on the suite, 20 minutes instead of about half that.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest

from bench.core.data import EHRDataset
from bench.datasets.toy import make_toy

os.environ.setdefault("EHRBENCH_PROGRESS", "0")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Small networks train fastest on one intra-op thread, and the test machine's cores are
    shared: modules that train them use it through ``pytestmark``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


@pytest.fixture(scope="module")
def ci_baseline(tmp_path_factory: pytest.TempPathFactory):
    """The CI grid's baseline the mutant tests (``test_check_mutants*.py``) check their faults
    against: the committed one when it holds the grid they need, else one built once per module
    (``mutants.mutant_baseline``)."""
    from mutants import mutant_baseline

    return mutant_baseline(tmp_path_factory)
