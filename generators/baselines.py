"""Reference generators that frame every table: the floor and the privacy worst case."""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from generators.base import Generator


class IndependentGenerator(Generator):
    """Each code drawn independently from its marginal, per class when conditioning.

    The baseline of Yan et al. (2022): it matches every prevalence yet knows no correlation, so a
    generator that learned the data must beat it on the metrics that see correlations.
    Binary codes are Bernoulli draws; counts are drawn from each column's empirical distribution.
    """

    name = "independent"
    is_reference = True
    supports_conditioning = True
    reference = "Yan et al., Nature Communications 2022"

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, data: EHRDataset) -> IndependentGenerator:
        self._check_data(data)
        self.kind_ = data.kind
        self.n_codes_ = data.n_codes
        groups = {None: data.X} if data.y is None else {c: data.X[data.y == c] for c in (0, 1)}
        self.prior_ = None if data.y is None else float(data.y.mean())
        # per group, per column: sorted values and cumulative probabilities
        self.marginals_ = {g: self._column_marginals(Xg) for g, Xg in groups.items()}
        self.rng_ = np.random.default_rng(self.random_state)
        self.fitted_ = True
        return self

    @staticmethod
    def _column_marginals(X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for j in range(X.shape[1]):
            values, counts = np.unique(X[:, j], return_counts=True)
            out.append((values, np.cumsum(counts) / counts.sum()))
        return out

    def _draw(self, group: object, n: int) -> np.ndarray:
        X = np.empty((n, self.n_codes_), dtype=np.float32)
        u = self.rng_.random((n, self.n_codes_))
        for j, (values, cdf) in enumerate(self.marginals_[group]):
            X[:, j] = values[np.minimum(np.searchsorted(cdf, u[:, j], side="right"), len(values) - 1)]
        return X

    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        self._check_fitted()
        self._check_n(n, labels)
        if self.prior_ is None:
            return self._draw(None, n), None
        y = (self.rng_.random(n) < self.prior_).astype(np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        X = np.empty((n, self.n_codes_), dtype=np.float32)
        for c in (0, 1):
            idx = np.flatnonzero(y == c)
            if idx.size:
                X[idx] = self._draw(c, idx.size)
        return X, y


class RealCopyGenerator(Generator):
    """Training records resampled with replacement: perfect fidelity, no privacy at all.

    The worst case every privacy metric must flag. Conditional: records for label c are drawn
    from the training records of class c.
    """

    name = "real-copy"
    is_reference = True
    releases_training_records = True
    supports_conditioning = True

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, data: EHRDataset) -> RealCopyGenerator:
        self._check_data(data)
        self.X_ = data.X.copy()
        self.y_ = None if data.y is None else data.y.copy()
        self.rng_ = np.random.default_rng(self.random_state)
        self.fitted_ = True
        return self

    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        self._check_fitted()
        self._check_n(n, labels)
        if labels is None or self.y_ is None:
            idx = self.rng_.integers(0, self.X_.shape[0], n)
            return self.X_[idx].copy(), None if self.y_ is None else self.y_[idx].copy()
        labels = np.asarray(labels, dtype=np.int64)
        idx = np.empty(n, dtype=np.int64)
        for c in np.unique(labels):
            pool = np.flatnonzero(self.y_ == c)
            where = np.flatnonzero(labels == c)
            idx[where] = pool[self.rng_.integers(0, pool.size, where.size)]
        return self.X_[idx].copy(), labels.copy()
