"""The statistics the verdict rests on, in one place: paired tests over blocks, Holm's step-down
correction, the power of a paired comparison, Friedman's test with Nemenyi's critical difference
over datasets (Demšar 2006), and a difference pooled over datasets with the dataset as a fixed
effect.

Why a paired t-test rather than Wilcoxon's signed-rank test: the exact two-sided signed-rank test
cannot reach p < 0.05 with fewer than six blocks (its smallest p with n blocks is 2 / 2^n), so on
the 3-seed grids a user runs first it would never separate anything, whatever the effect; the t
test has power at every n >= 2, and its power and minimal detectable difference have the closed
form (noncentral t) that the verdict states. docs/metrics.md, "Ranking and bolding", says more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of ``a`` vs ``b`` over the blocks where both are known.

    Identical values give 1 (a tie); a constant non-zero difference over two or more blocks gives
    0 (every block agrees, the spread is nil); fewer than two shared blocks give nan (nothing can
    be resolved, and callers treat nan as "not separated" only for complete contestants).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    diff = a[ok] - b[ok]
    if diff.size < 2:
        return float("nan")
    scale = max(1.0, float(np.abs(a[ok]).max(initial=0.0)), float(np.abs(b[ok]).max(initial=0.0)))
    if np.allclose(diff, 0.0, rtol=0, atol=1e-12 * scale):
        return 1.0
    if np.ptp(diff) <= 1e-12 * max(scale, float(np.abs(diff).max())):
        return 0.0
    return float(stats.ttest_rel(a[ok], b[ok]).pvalue)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm (1979) adjusted p-values: sorted ascending, p_(i) * (m - i + 1), made monotone, capped
    at 1. Rejecting where the adjusted p < alpha is Holm's step-down test at family-wise error
    alpha. A nan p (no test possible) stays nan and does not count in m."""
    finite = {k: v for k, v in pvalues.items() if not (v is None or math.isnan(v))}
    m = len(finite)
    out = {k: float("nan") for k in pvalues}
    running = 0.0
    for i, (k, p) in enumerate(sorted(finite.items(), key=lambda kv: (kv[1], kv[0]))):
        running = max(running, min(1.0, p * (m - i)))
        out[k] = running
    return out


def paired_power(n: int, d: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with ``n`` blocks at standardized effect ``d`` (mean
    difference / SD of the paired differences): P(|T| > t_crit), T noncentral t with n - 1 degrees
    of freedom and noncentrality d sqrt(n)."""
    if n < 2:
        return float("nan")
    return _power_at_ncp(n - 1, abs(d) * math.sqrt(n), alpha)


def _power_at_ncp(df: int, ncp: float, alpha: float) -> float:
    crit = stats.t.ppf(1 - alpha / 2, df)
    p = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    return 1.0 if math.isnan(p) else p  # scipy's noncentral t gives nan far in the tail, where power is 1


@lru_cache(maxsize=256)
def _ncp_for_power(df: int, alpha: float, power: float) -> float:
    """The noncentrality at which the two-sided t-test on ``df`` degrees of freedom has ``power``."""
    hi = 1.0
    while _power_at_ncp(df, hi, alpha) < power:
        hi *= 2.0
    return float(optimize.brentq(lambda c: _power_at_ncp(df, c, alpha) - power, 0.0, hi))


def min_detectable_effect(n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The standardized effect d the paired t-test detects with probability ``power`` over ``n``
    blocks (solved exactly on the noncentral t); nan below two blocks."""
    if n < 2:
        return float("nan")
    return _ncp_for_power(n - 1, alpha, power) / math.sqrt(n)


def min_detectable_difference(diffs: np.ndarray, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest mean paired difference the blocks could detect at ``power``: the standardized
    effect of :func:`min_detectable_effect` times the observed SD of the paired differences."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan")
    return min_detectable_effect(d.size, alpha, power) * float(d.std(ddof=1))


@dataclass(frozen=True)
class PairedDifference:
    """A mean paired difference over blocks with its 95% interval, test and power."""

    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    df: int
    mdd: float  # minimal detectable difference at 80% power (alpha of the unadjusted test)


def paired_difference(diffs: np.ndarray, alpha: float = ALPHA) -> PairedDifference:
    """The mean of ``diffs`` (one per block), its (1 - alpha) t interval, the paired t-test's p and
    the minimal detectable difference."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    n = int(d.size)
    if n == 0:
        return PairedDifference(*(float("nan"),) * 4, 0, 0, float("nan"))
    mean = float(d.mean())
    if n < 2:
        return PairedDifference(mean, float("nan"), float("nan"), float("nan"), n, 0, float("nan"))
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n))
    p = paired_p(d, np.zeros_like(d))
    return PairedDifference(mean, mean - half, mean + half, p, n, n - 1, min_detectable_difference(d, alpha))


def pooled_difference(diffs: pd.Series, groups: pd.Series, alpha: float = ALPHA) -> PairedDifference:
    """A paired difference pooled over datasets with the dataset as a fixed effect:
    d_ij = mu + a_i + e_ij; mu is the mean of the per-dataset means (each dataset weighs the
    same), its variance sigma^2 / D^2 * sum(1 / n_i), sigma^2 the within-dataset residual variance
    on N - D degrees of freedom. Datasets with one block add no residual degree of freedom."""
    frame = pd.DataFrame({"d": pd.to_numeric(diffs, errors="coerce").to_numpy(), "g": groups.to_numpy()}).dropna()
    if frame.empty:
        return PairedDifference(*(float("nan"),) * 4, 0, 0, float("nan"))
    by = frame.groupby("g")["d"]
    means, counts = by.mean(), by.size()
    n, k = int(len(frame)), int(len(means))
    mu = float(means.mean())
    df = n - k
    if df < 1:
        return PairedDifference(mu, float("nan"), float("nan"), float("nan"), n, 0, float("nan"))
    resid = frame["d"] - frame["g"].map(means)
    sigma2 = float((resid**2).sum() / df)
    se = math.sqrt(sigma2 * float((1.0 / counts).sum()) / k**2)
    if se <= 1e-15 * max(1.0, abs(mu)):
        p = 1.0 if abs(mu) <= 1e-12 else 0.0
        return PairedDifference(mu, mu, mu, p, n, df, 0.0)
    t = mu / se
    p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(1 - alpha / 2, df) * se)
    # detectable mu at 80% power: the noncentral t on df degrees of freedom with ncp mu / se
    return PairedDifference(mu, mu - half, mu + half, p, n, df, _ncp_for_power(df, alpha, POWER) * se)


# ------------------------------------------------------------------- Friedman / Nemenyi (Demsar)
MIN_DATASETS_FOR_CD = 4


@dataclass
class FriedmanResult:
    """Average ranks over complete blocks (datasets), Friedman's test (chi-square and the
    Iman-Davenport F) and Nemenyi's critical difference."""

    avg_rank: pd.Series  # contestants, 1 = best, sorted
    n_blocks: int
    statistic: float  # Friedman's chi-square (tie-corrected)
    p_value: float
    critical_difference: float
    alpha: float = ALPHA
    iman_davenport_f: float = float("nan")
    iman_davenport_p: float = float("nan")


def friedman_nemenyi(dist: pd.DataFrame, alpha: float = ALPHA) -> FriedmanResult:
    """Demšar (2006): rank the contestants within each block (1 = smallest distance, ties
    averaged), average over blocks, test equality of the mean ranks with Friedman's chi-square
    (and Iman and Davenport's F), and give Nemenyi's critical difference
    CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the studentized range quantile / sqrt(2).
    Blocks are datasets: a caller passes one row per dataset. Blocks where a contestant has no
    value are dropped."""
    full = dist.dropna(axis=0, how="any")
    k, n = full.shape[1], full.shape[0]
    ranks = full.rank(axis=1, method="average")
    avg = ranks.mean(axis=0).sort_values(kind="stable")
    if k < 2 or n < 2:
        return FriedmanResult(avg, n, float("nan"), float("nan"), float("nan"), alpha)
    r = ranks.to_numpy()
    chi = 12.0 * n / (k * (k + 1)) * float(((r.mean(axis=0) - (k + 1) / 2.0) ** 2).sum())
    ties = sum(float((c**3 - c).sum()) for c in (np.unique(row, return_counts=True)[1] for row in r))
    denom = 1.0 - ties / (n * k * (k * k - 1))
    stat = chi / denom if denom > 1e-12 else 0.0
    p = float(stats.chi2.sf(stat, k - 1)) if denom > 1e-12 else 1.0
    if n * (k - 1) - stat > 1e-12:
        f = (n - 1) * stat / (n * (k - 1) - stat)
        fp = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    else:
        f, fp = float("inf"), 0.0
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6.0 * n)))
    return FriedmanResult(avg, n, float(stat), float(p), cd, alpha, float(f), fp)
