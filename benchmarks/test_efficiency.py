"""The efficiency suite (issue 26): one optimiser update of every neural generator, timed by
pytest-benchmark, and the table of FLOPs, rates and efficiency ratios printed at the end.

    tox -e bench
    python -m pytest benchmarks -n 0 --benchmark-enable --benchmark-only

What is measured and how: benchmarks/efficiency.py. Figures only; nothing asserts a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from benchmarks import efficiency


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def eunomia_train():
    return efficiency.load_train()


@pytest.mark.parametrize("name", [*efficiency.GENERATORS, *efficiency.WITNESSES.values()])
def test_update_efficiency(benchmark, name: str, one_thread: None, eunomia_train) -> None:
    if getattr(benchmark, "disabled", False):
        pytest.skip("benchmark: run with --benchmark-enable")
    from bench.core.errors import BenchError
    from generators import registry

    try:
        registry.get_class(efficiency._base(name))
    except BenchError as exc:  # e.g. the ctgan package missing from a partial install
        pytest.skip(str(exc))
    if efficiency.START_LOAD is None:
        efficiency.START_LOAD = [round(v, 2) for v in os.getloadavg()]

    def timer(advance, rounds: int) -> None:
        benchmark.pedantic(advance, rounds=rounds, iterations=1)

    row = efficiency.measure(name, eunomia_train, timer=timer)
    benchmark.extra_info.update(row)
    efficiency.RESULTS.append(row)
