"""MedDiff's data transform: patient vectors to the diffusion's [-1, 1] space and back.

Binary codes map to {-1, 1}; counts go through log1p, scaled by the training maximum so that the
largest count lands at 1 (``scale`` per code; None for binary data). Decoding thresholds binary output and inverts the count scaling.
"""

from __future__ import annotations

import numpy as np


def encode(X: np.ndarray, kind: str, scale: np.ndarray | None) -> np.ndarray:
    if kind == "binary":
        return (2.0 * X - 1.0).astype(np.float32)
    z = np.log1p(X) / scale
    return (2.0 * np.clip(z, 0.0, 1.0) - 1.0).astype(np.float32)


def decode(Z: np.ndarray, kind: str, scale: np.ndarray | None, threshold: float) -> np.ndarray:
    u = (np.clip(Z, -1.0, 1.0) + 1.0) / 2.0
    if kind == "binary":
        return (u >= threshold).astype(np.float32)
    return np.round(np.expm1(u * scale)).clip(min=0).astype(np.float32)
