"""The one way the harness handles a generator that cannot condition on the label.

The label becomes the last column before ``fit``; after ``sample`` that column is split off and
thresholded at 0.5 (a count generator may emit any non-negative number there). Every such
generator is treated the same, so their utility scores are comparable.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from generators.base import Generator
from generators.inputs import split_label_column


def fit_generator(gen: Generator, train: EHRDataset) -> None:
    if gen.supports_conditioning or train.y is None:
        gen.fit(train)
    else:
        gen.fit(train.with_label_as_column())


def sample_generator(
    gen: Generator, n: int, train: EHRDataset, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` records with labels, whatever the generator supports."""
    if gen.supports_conditioning or train.y is None:
        X, y = gen.sample(n, labels)
    else:
        X, y = split_label_column(gen.sample(n)[0])  # the rule a generator's public sample applies too
    X = np.asarray(X, dtype=np.float32)
    if X.shape != (n, train.n_codes):
        raise ValueError(
            f"generator {gen.name!r} returned records of shape {X.shape}, expected {(n, train.n_codes)}"
        )
    return X, None if y is None else np.asarray(y, dtype=np.int64)
