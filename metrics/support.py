"""Fidelity of the whole joint distribution from kernel and nearest-neighbour geometry: maximum
mean discrepancy, and precision / recall / density / coverage of the real data's support.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics._distance import CHUNK_ELEMENTS, nearest_distances, squared_blocks
from metrics.base import (
    Metric,
    Score,
    SyntheticData,
    check_columns,
    features,
    presence,
    sample_rows,
    take_rows,
)


# ------------------------------------------------------------------------------------------ MMD
def _kernel_sum(A: np.ndarray, B: np.ndarray, kernel: str, gamma: float) -> float:
    """Sum of k(a, b) over all rows a of A and b of B, block by block (no |A| x |B| matrix).

    ``jaccard``: the Tanimoto kernel <a,b> / (|a|^2 + |b|^2 - <a,b>) on 0/1 vectors, the share of
    codes two records have in common among the codes either has; positive definite on binary
    vectors (Gower 1971), and blind to the many codes both records lack, which dominate sparse
    EHR vectors under a Gaussian kernel. Two empty records are identical: k = 1.
    ``rbf``: exp(-gamma |a - b|^2).
    """
    A = np.ascontiguousarray(A, dtype=np.float32)
    B = np.ascontiguousarray(B, dtype=np.float32)
    total = 0.0
    if kernel == "jaccard":
        na = A.sum(axis=1)
        nb = B.sum(axis=1)
        step = max(1, CHUNK_ELEMENTS // max(1, B.shape[0]))
        for s in range(0, A.shape[0], step):
            inter = A[s : s + step] @ B.T
            union = na[s : s + step, None] + nb[None, :] - inter
            k = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
            total += float(k.sum(dtype=np.float64))
        return total
    for _, d2 in squared_blocks(A, B):
        total += float(np.exp(-gamma * d2).sum(dtype=np.float64))
    return total


def mmd2_unbiased(X: np.ndarray, Y: np.ndarray, kernel: str = "jaccard", gamma: float = 1.0) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012): within-sample sums exclude k(x, x) = 1.

    Unbiased, so its expectation is the same at any sample size: a synthetic score and the
    held-out reference computed on different sizes can be compared. It is exactly 0 in
    expectation for two samples of one distribution and may then be slightly negative.
    """
    m, n = X.shape[0], Y.shape[0]
    if m < 2 or n < 2:
        raise MetricNotApplicable("MMD needs at least two records on each side")
    sxx = (_kernel_sum(X, X, kernel, gamma) - m) / (m * (m - 1))
    syy = (_kernel_sum(Y, Y, kernel, gamma) - n) / (n * (n - 1))
    sxy = _kernel_sum(X, Y, kernel, gamma) / (m * n)
    return float(sxx + syy - 2.0 * sxy)


def median_gamma(X: np.ndarray, rng: np.random.Generator, n: int = 1000) -> float:
    """The median heuristic: gamma = 1 / median squared distance between distinct pooled rows."""
    Z = X[sample_rows(X.shape[0], n, rng)]
    d2 = next(squared_blocks(Z, Z))[1] if Z.shape[0] * Z.shape[0] <= CHUNK_ELEMENTS else None
    if d2 is None:  # pragma: no cover - n is small enough for one block
        raise ValueError("median heuristic sample too large")
    vals = d2[np.triu_indices(Z.shape[0], 1)]
    vals = vals[vals > 0]
    return 1.0 / float(np.median(vals)) if vals.size else 1.0


class MaximumMeanDiscrepancy(Metric):
    """Maximum mean discrepancy between real training and synthetic records.

    Binary records use the Jaccard (Tanimoto) kernel; counts the Gaussian kernel on log1p
    counts with the median-heuristic bandwidth. ``mmd2`` is the unbiased MMD^2 of the synthetic
    records; ``mmd2_holdout`` the same statistic between the real training and real held-out
    records: the value a perfect generator would score at this sample size, for reading
    ``mmd2`` against. At most ``max_records`` records per side, drawn with ``random_state``.
    """

    name = "mmd"
    category = "fidelity"
    description = "maximum mean discrepancy (Jaccard kernel on binary records)"
    scores = (
        Score("mmd2", "minimize", -1.0, 2.0, 0.0, "unbiased MMD^2, real training vs synthetic"),
        Score("mmd2_holdout", "minimize", -1.0, 2.0, 0.0, "unbiased MMD^2, real training vs real held-out",
              reference=True),
    )

    def __init__(self, random_state: int | None = 0, max_records: int = 3000, kernel: str | None = None) -> None:
        super().__init__(random_state)
        if kernel not in (None, "jaccard", "rbf"):
            raise ValueError(f"kernel must be 'jaccard' or 'rbf', got {kernel!r}")
        self.max_records = max_records
        self.kernel = kernel

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        rng = self.rng()
        kernel = self.kernel or ("jaccard" if real_train.kind == "binary" else "rbf")
        R = take_rows(real_train, self.max_records, rng)
        S = take_rows(synthetic, self.max_records, rng)
        T = take_rows(real_test, self.max_records, rng)
        if kernel == "jaccard":
            R, S, T = presence(R), presence(S), presence(T)
            gamma = 1.0
        else:
            R, S, T = (features(A, real_train.kind) for A in (R, S, T))
            gamma = median_gamma(np.vstack([R, S]), rng)
        return {
            "mmd2": mmd2_unbiased(R, S, kernel, gamma),
            "mmd2_holdout": mmd2_unbiased(R, T, kernel, gamma),
        }


# ----------------------------------------------------------------------------------------- PRDC
def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls.

    Each real record's ball reaches its k-th nearest other real record. Precision: share of
    synthetic records inside some real ball. Density: mean number of real balls holding a
    synthetic record, divided by k (about 1 when the distributions match; above 1 when synthetic
    records crowd where real ones are densest). Coverage: share of real records whose ball holds
    a synthetic record. Recall: share of real records inside some synthetic record's ball.
    Boundaries count as inside, which matters on binary data, where distances tie often.
    """
    m, n = real.shape[0], fake.shape[0]
    if m <= k or n <= k:
        raise MetricNotApplicable(f"PRDC with k={k} needs more than {k} records on each side")
    # squared radii, widened by a relative 1e-6 so that float32 rounding of the same distance
    # computed from two different blocks cannot move a record across its own ball's boundary
    r2 = nearest_distances(real, real, k, exclude_self=True, squared=True)[:, -1] * (1 + 1e-6) + 1e-6
    s2 = nearest_distances(fake, fake, k, exclude_self=True, squared=True)[:, -1] * (1 + 1e-6) + 1e-6
    in_some_real = 0
    ball_hits = 0.0
    recalled = np.zeros(m, dtype=bool)
    covered = np.zeros(m, dtype=bool)
    for s, d2 in squared_blocks(fake, real):
        inside = d2 <= r2[None, :]
        in_some_real += int(inside.any(axis=1).sum())
        ball_hits += float(inside.sum())
        covered |= inside.any(axis=0)
        recalled |= (d2 <= s2[s : s + d2.shape[0], None]).any(axis=0)
    return {
        "prdc_precision": in_some_real / n,
        "prdc_recall": float(recalled.mean()),
        "prdc_density": ball_hits / (k * n),
        "prdc_coverage": float(covered.mean()),
    }


class SupportCoverage(Metric):
    """Precision / recall / density / coverage (PRDC, Naeem et al. 2020) of the synthetic records
    against the real training records, in the record space (Euclidean; binary: sqrt Hamming).

    Precision asks whether synthetic records look real, recall and coverage whether the
    synthetic records reach all kinds of real patients (mode collapse lowers them). k = 5
    neighbours; at most ``max_records`` records per side, drawn with ``random_state``.
    """

    name = "prdc"
    category = "fidelity"
    description = "precision, recall, density, coverage of the real support (k-NN balls)"
    scores = (
        Score("prdc_precision", "maximize", 0.0, 1.0, 1.0, "share of synthetic records inside the real k-NN support"),
        Score("prdc_recall", "maximize", 0.0, 1.0, 1.0, "share of real records inside the synthetic k-NN support"),
        Score("prdc_density", "target", 0.0, np.inf, 1.0, "mean count of real k-NN balls holding a synthetic record / k"),
        Score("prdc_coverage", "maximize", 0.0, 1.0, 1.0, "share of real records whose k-NN ball holds a synthetic record"),
    )

    def __init__(self, random_state: int | None = 0, max_records: int = 5000, k: int = 5) -> None:
        super().__init__(random_state)
        self.max_records = max_records
        self.k = k

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        check_columns(real_train, synthetic)
        rng = self.rng()
        R = take_rows(real_train, self.max_records, rng)
        S = take_rows(synthetic, self.max_records, rng)
        return prdc(features(R, real_train.kind), features(S, real_train.kind), self.k)
