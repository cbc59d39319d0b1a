"""Where metrics compute. The harness sets the job's device once (``--device``); the heavy kernels
read it, so a metric's signature stays ``compute(real_train, real_test, synthetic)`` and a
third-party metric can opt in by calling :func:`current` or :func:`xgboost_device`.

What moves to a GPU: nearest-neighbour distances (``metrics._distance``: DCR, membership
inference, attribute inference, NNAA, PRDC's k-NN radii) and the xgboost models (detection,
TSTR). The sklearn models (logistic regressions of dimension-wise prediction and TSTR, k-means)
have no GPU path and stay on the CPU. On the CPU every kernel runs in numpy, whose results the
CI baseline holds; on a GPU, distances are the same numbers and nearest-neighbour ties go to the
lowest index as on the CPU, while xgboost's GPU trees may differ from its CPU trees in the last
digits, which is why the manifest records the device.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_DEVICE: contextvars.ContextVar[str] = contextvars.ContextVar("ehrbench_metric_device", default="cpu")


@contextmanager
def use_device(device: str) -> Iterator[None]:
    """Run the metrics inside the block on ``device`` (``cpu``, ``cuda`` or ``cuda:N``; already
    resolved: ``auto`` is the harness's to decide)."""
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"metric device must be cpu or cuda[:N], got {device!r}")
    token = _DEVICE.set(device)
    try:
        yield
    finally:
        _DEVICE.reset(token)


def current() -> str:
    """The device of the metrics being computed now: ``cpu`` unless the harness said otherwise."""
    return _DEVICE.get()


def torch_device() -> object | None:
    """The torch device for distance kernels, or None for the numpy path (the CPU)."""
    device = current()
    if device == "cpu":
        return None
    import torch

    return torch.device(device)


def xgboost_device() -> str:
    """xgboost's ``device`` parameter: ``cpu`` or ``cuda[:N]``."""
    return current()
