"""Metrics on a GPU: the torch distance path gives the numpy path's numbers and tie-breaking.

The torch path is exercised on the CPU here (the kernels take any torch device), so CI without a
GPU still checks the code a GPU runs; the last test repeats the comparison on CUDA when present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.datasets.toy import make_toy
from generators.baselines import IndependentGenerator
from metrics import _distance, device
from metrics.base import SyntheticData
from metrics.privacy import AttributeInference, DistanceToClosestRecord, NearestNeighbourAdversarialAccuracy


def _binary(n: int, d: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, d)) < 0.3).astype(np.float32)


def _every_kernel(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    return [
        *_distance.nearest_neighbours(A, B, k=1),
        *_distance.nearest_neighbours(A, B, k=4),
        *_distance.nearest_neighbours(A, A, k=2, exclude_self=True),
        _distance.nearest_distances(A, B, 3),
        _distance.nearest_distances(A, A, 1, exclude_self=True, squared=True),
        *_distance.cross_nearest(A, B),
    ]


def test_torch_kernels_equal_numpy_including_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    A, B = _binary(41, 6, 0), _binary(29, 6, 1)  # 6 binary columns: many tied distances
    monkeypatch.setattr(_distance, "CHUNK_ELEMENTS", 200)
    expected = _every_kernel(A, B)
    monkeypatch.setattr(_distance, "torch_device", lambda: torch.device("cpu"))
    got = _every_kernel(A, B)
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape and e.dtype == g.dtype
        assert np.array_equal(e, g)


def test_privacy_metrics_same_on_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_toy(n_records=500, n_codes=30, seed=4)
    train, test = data.subset(np.arange(350)), data.subset(np.arange(350, 500))
    X, y = IndependentGenerator(random_state=0).fit(train).sample(350, train.y)
    syn = SyntheticData(X, y)
    metrics = (AttributeInference, DistanceToClosestRecord, NearestNeighbourAdversarialAccuracy)
    expected = [m(random_state=0).compute(train, test, syn) for m in metrics]
    monkeypatch.setattr(_distance, "torch_device", lambda: torch.device("cpu"))
    assert [m(random_state=0).compute(train, test, syn) for m in metrics] == expected


def test_device_context_is_scoped_and_validated() -> None:
    assert device.current() == "cpu" and device.torch_device() is None
    with device.use_device("cuda:0"):
        assert device.xgboost_device() == "cuda:0"
        assert device.torch_device() == torch.device("cuda:0")
    assert device.current() == "cpu"
    with pytest.raises(ValueError, match="cpu or cuda"), device.use_device("tpu"):
        pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_distances_equal_cpu() -> None:
    A, B = _binary(3000, 50, 0), _binary(2000, 50, 1)
    expected = _every_kernel(A, B)
    with device.use_device("cuda"):
        got = _every_kernel(A, B)
    for e, g in zip(expected, got, strict=True):
        assert np.array_equal(e, g)
