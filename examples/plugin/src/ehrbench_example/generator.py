"""A mixture of independent Bernoulli distributions (latent class model), fitted by EM.

Each record belongs to one of ``n_components`` latent classes; within a class every code is
present independently with its own probability. EM as in McLachlan & Peel (2000), ch. 2, with the
probabilities clipped to [1e-3, 1 - 1e-3] so that no code is impossible in a class. Binary data
only (counts are presence here). A label is learned as one more column by the harness (the model
does not condition on it).
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from generators.base import Generator, check_positive


class BernoulliMixture(Generator):
    """Bernoulli mixture (latent class model) fitted by expectation-maximisation."""

    name = "bernoulli-mixture"
    supported_kinds = ("binary",)
    reference = "McLachlan & Peel, Finite Mixture Models (Wiley 2000), ch. 2"
    presets = {"quick": {"n_iter": 20}, "cpu": {}}

    def __init__(self, n_components: int = 8, n_iter: int = 100, random_state: int | None = None) -> None:
        self.n_components = n_components
        self.n_iter = n_iter
        self.random_state = random_state

    def validate_params(self) -> None:
        check_positive(self, "n_components", "n_iter")

    def fit(self, data: EHRDataset) -> BernoulliMixture:
        self._check_data(data)
        X = (np.asarray(data.X) > 0).astype(np.float64)
        rng = np.random.default_rng(self.random_state)
        k = min(self.n_components, X.shape[0])
        resp = rng.dirichlet(np.ones(k), size=X.shape[0])  # a random soft start
        for it in range(self.n_iter):
            weights = resp.sum(axis=0) + 1e-9
            p = np.clip((resp.T @ X) / weights[:, None], 1e-3, 1 - 1e-3)  # M step
            pi = weights / weights.sum()
            log = np.log(pi) + X @ np.log(p).T + (1 - X) @ np.log(1 - p).T  # E step
            log -= log.max(axis=1, keepdims=True)
            resp = np.exp(log)
            resp /= resp.sum(axis=1, keepdims=True)
            self._report_progress(it + 1, self.n_iter, "iteration")
        self.weights_, self.probs_ = pi, p
        self.rng_ = np.random.default_rng(self.random_state)
        self.fitted_ = True
        return self

    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        self._check_fitted()
        self._check_n(n, labels)
        z = self.rng_.choice(len(self.weights_), size=n, p=self.weights_)
        X = (self.rng_.random((n, self.probs_.shape[1])) < self.probs_[z]).astype(np.float32)
        return X, None
