"""Seed every source of randomness a job touches, so that a seed fixes its numbers on CPU."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators. (String hashing is fixed only by a
    PYTHONHASHSEED set before the interpreter starts; no job's numbers depend on it.)"""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
