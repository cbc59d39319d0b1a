"""From network outputs to records, and the mode-collapse count on a sample."""

from __future__ import annotations

import numpy as np
import torch

BINARIZE = ("round", "bernoulli")


def to_records(raw: np.ndarray, mode: str, data_kind: str, draw: torch.Generator | None = None) -> np.ndarray:
    """Network outputs to records of the data's kind.

    Binary mode rounds probabilities at 0.5 (medGAN's rule, deterministic decoding); with
    ``draw`` (a CPU generator) each code is instead drawn from a Bernoulli of its probability,
    so a code whose probability stays under 0.5, as a rare code's does, still occurs at about
    its rate. Count mode rounds to the nearest non-negative integer; on binary data its output
    is clipped to 1 so records stay binary.
    """
    if mode == "binary":
        if draw is not None:
            u = torch.rand(raw.shape, generator=draw, dtype=torch.float64).numpy()
            return (u < raw).astype(np.float32)
        return (raw >= 0.5).astype(np.float32)
    X = np.clip(np.rint(raw), 0, None)
    if data_kind == "binary":
        X = np.minimum(X, 1)
    return X.astype(np.float32)


def never_generated(X: np.ndarray, present: np.ndarray) -> tuple[float, int]:
    """Mode collapse made visible: among codes present in the training data, the fraction (and
    number) that no sampled record holds."""
    absent = present & ~(X > 0).any(axis=0)
    n_present = int(present.sum())
    return (float(absent.sum()) / n_present if n_present else 0.0), int(absent.sum())
