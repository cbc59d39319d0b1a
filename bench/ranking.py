"""The one place that decides which generator is best on a score, and whether that is resolved.

Every table, the report and the use-case ranking call :func:`rank_score`; nothing else turns
goals into orderings. The rules (docs/metrics.md, "Ranking and bolding"):

- A score's values become distances to its goal, block by block (a block is one (dataset, seed)
  job, each seed with its own split), through :func:`metrics.base.distance_to_goal`: goal,
  numeric ideal, or the value of the named real-data reference score in the same block.
- Reference generators (``independent``, ``real-copy`` and any generator class with
  ``is_reference = True``) are never ranked and never bolded; reference scores (TRTR ...) are
  never ranked at all.
- The leader is the contestant with the smallest mean distance. Every other contestant is
  compared with it by a two-sided paired t-test on the per-block distances (blocks where both
  have a value), alpha = 0.05. The leading group is the leader and every contestant the test
  cannot separate from it (including exact ties and contestants with fewer than two shared
  blocks). The group is bolded when it is smaller than the field; when no contestant is
  separated from the leader (e.g. two generators within noise of each other, or a single
  block) nothing is bolded: there is no winner to show.
- A contestant's rank (used by the use-case ranking) is 1 + the number of contestants that beat
  it by the same paired test: what the test cannot resolve is a tie.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from metrics.base import distance_to_goal

ALPHA = 0.05
REFERENCE_NAMES = frozenset({"independent", "real-copy"})
TEST_NAME = "two-sided paired t-test on per-block distances to the goal, alpha 0.05"


def is_reference_generator(label: str, extra: Iterable[str] = ()) -> bool:
    """Whether the generator labelled ``label`` (``name`` or ``name:opt=v``) is a reference."""
    name = label.split(":", 1)[0]
    return name in REFERENCE_NAMES or label in set(extra) or name in set(extra)


def reference_generators(labels: Iterable[str]) -> set[str]:
    """The labels among ``labels`` whose generator is a reference: the two baselines by name, and
    any registered generator class that declares ``is_reference = True``."""
    out = set()
    for label in labels:
        name = label.split(":", 1)[0]
        if name in REFERENCE_NAMES:
            out.add(label)
            continue
        try:
            from generators import registry

            cls = registry.get_class(name)
        except Exception:  # an unknown or unloadable generator is a contestant
            continue
        if getattr(cls, "is_reference", False):
            out.add(label)
    return out


@dataclass
class ScoreRanking:
    """The verdict on one score: distances, ranks, the leader(s) and whether they are resolved."""

    mean_distance: pd.Series  # per contestant, mean over its blocks (lower is better)
    rank: pd.Series  # 1 + contestants that beat it by the paired test (see resolved_ranks)
    leaders: list[str]  # the contestants with the smallest mean distance (exact ties all listed)
    group: list[str]  # the leader and every contestant the test cannot separate from it
    best: list[str]  # what tables bold: ``group`` when it is smaller than the field, else []
    p_value: float  # leader vs runner-up; nan when there is no runner-up or no shared blocks
    p_values: dict[str, float] = field(default_factory=dict)  # leader vs each other contestant
    distances: pd.DataFrame | None = None  # blocks x contestants
    test: str = TEST_NAME


def distances(
    values: pd.DataFrame, goal: str, ideal: float | str | None = None,
    reference_values: pd.DataFrame | pd.Series | None = None,
) -> pd.DataFrame:
    """Per-block distances to the goal (blocks x generators, same shape as ``values``).

    When ``ideal`` names a reference score, ``reference_values`` holds that score: either per
    block and generator (same shape) or per block (a Series); a generator's missing reference
    falls back to the block's median over generators (a real-data reference is the same for all).
    """
    vals = values.astype(float)
    if isinstance(ideal, str):
        if reference_values is None:
            raise ValueError(f"the ideal is the reference score {ideal!r}: its values are needed")
        if isinstance(reference_values, pd.Series):
            ref = pd.DataFrame({c: reference_values.reindex(vals.index) for c in vals.columns})
        else:
            full = reference_values.reindex(index=vals.index).astype(float)
            block = full.median(axis=1, skipna=True)  # over all generators, references included
            ref = full.reindex(columns=vals.columns).apply(lambda col: col.fillna(block))
        d = distance_to_goal(vals.to_numpy(), goal, ref.to_numpy())
    else:
        d = distance_to_goal(vals.to_numpy(), goal, None if ideal is None or pd.isna(ideal) else float(ideal))
    return pd.DataFrame(d, index=vals.index, columns=vals.columns)


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of ``a`` vs ``b`` over the blocks where both are known.

    Identical values give 1 (a tie); a constant non-zero difference gives 0 (every block agrees);
    fewer than two shared blocks give nan (nothing can be resolved).
    """
    ok = ~(np.isnan(a) | np.isnan(b))
    diff = a[ok] - b[ok]
    if diff.size < 2:
        return float("nan")
    if np.allclose(diff, 0.0, rtol=0, atol=1e-12):
        return 1.0
    if np.ptp(diff) <= 1e-12 * max(1.0, float(np.abs(diff).max())):
        return 0.0
    return float(stats.ttest_rel(a[ok], b[ok]).pvalue)


def rank_score(
    values: pd.DataFrame, goal: str, ideal: float | str | None = None, references: Iterable[str] = (),
    reference_values: pd.DataFrame | pd.Series | None = None, alpha: float = ALPHA,
) -> ScoreRanking:
    """Rank the contestants of one score; ``values`` is blocks x generators (NaN: no value).

    References (``references`` and the generators :func:`is_reference_generator` knows) are
    dropped before anything is compared.
    """
    refs = set(references)
    contest = [g for g in values.columns if not is_reference_generator(str(g), refs)]
    dist = distances(values[contest], goal, ideal, reference_values) if contest else pd.DataFrame(index=values.index)
    dist = dist.loc[:, dist.notna().any(axis=0)] if len(dist.columns) else dist
    mean = dist.mean(axis=0, skipna=True)
    empty = ScoreRanking(mean, mean.copy(), [], [], [], float("nan"), {}, dist)
    if mean.empty:
        return empty
    top = float(mean.min())
    leaders = [g for g in mean.index if abs(float(mean[g]) - top) <= 1e-12]
    order = mean.sort_values(kind="stable")
    leader = leaders[0]
    pvals = {g: paired_p(dist[g].to_numpy(), dist[leader].to_numpy()) for g in mean.index if g != leader}
    group = [leader] + [g for g in order.index if g != leader and not (pvals[g] < alpha)]
    runner = next((g for g in order.index if g != leader), None)
    best = group if len(group) < len(mean) else []
    return ScoreRanking(
        mean_distance=mean, rank=resolved_ranks(dist, mean, alpha), leaders=leaders, group=group, best=best,
        p_value=float("nan") if runner is None else pvals[runner], p_values=pvals, distances=dist,
    )


def resolved_ranks(dist: pd.DataFrame, mean: pd.Series, alpha: float = ALPHA) -> pd.Series:
    """Rank = 1 + the number of contestants that beat this one by the paired test (smaller mean
    distance and p < alpha). Differences the test cannot resolve give equal ranks, so noise
    orders nothing: output far from every patient (DCR ratio 3, distance 0 in every block) does
    not rank ahead of fresh records whose ratio wobbles around 1."""
    names = list(mean.index)
    beaten = dict.fromkeys(names, 0)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            p = paired_p(dist[a].to_numpy(), dist[b].to_numpy())
            if p < alpha:
                winner, loser = (a, b) if mean[a] < mean[b] else (b, a)
                beaten[loser] += 1
    return pd.Series({g: 1.0 + beaten[g] for g in names}, dtype=float)


# ------------------------------------------------------------------- Friedman / Nemenyi (Demsar)
@dataclass
class FriedmanResult:
    """Average ranks over complete blocks, the Friedman test and the Nemenyi critical difference."""

    avg_rank: pd.Series  # contestants, 1 = best
    n_blocks: int
    statistic: float
    p_value: float
    critical_difference: float
    alpha: float = ALPHA


def friedman_nemenyi(dist: pd.DataFrame, alpha: float = ALPHA) -> FriedmanResult:
    """Demsar (2006): rank the contestants within each block (1 = smallest distance, ties
    averaged), average over blocks, test equality of the mean ranks with Friedman's chi-square,
    and give Nemenyi's critical difference CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the
    studentized range quantile / sqrt(2). Blocks where a contestant has no value are dropped."""
    full = dist.dropna(axis=0, how="any")
    k, n = full.shape[1], full.shape[0]
    ranks = full.rank(axis=1, method="average")
    avg = ranks.mean(axis=0).sort_values(kind="stable")
    if k < 2 or n < 2:
        return FriedmanResult(avg, n, float("nan"), float("nan"), float("nan"), alpha)
    r = ranks.to_numpy()
    # Friedman's chi-square with the correction for tied ranks (as scipy, which refuses k = 2)
    chi = 12.0 * n / (k * (k + 1)) * float(((r.mean(axis=0) - (k + 1) / 2.0) ** 2).sum())
    ties = sum(float((c**3 - c).sum()) for c in (np.unique(row, return_counts=True)[1] for row in r))
    denom = 1.0 - ties / (n * k * (k * k - 1))
    stat = chi / denom if denom > 1e-12 else 0.0
    p = float(stats.chi2.sf(stat, k - 1)) if denom > 1e-12 else 1.0
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6.0 * n)))
    return FriedmanResult(avg, n, float(stat), float(p), cd, alpha)


# ----------------------------------------------------------------------- from the long scores table
def wide(scores: pd.DataFrame, metric: str, block: list[str] | None = None) -> pd.DataFrame:
    """Blocks x generators of one score from the long scores table (columns generator, dataset,
    seed, metric, value); blocks are (dataset, seed) unless ``block`` says otherwise."""
    block = block or ["dataset", "seed"]
    sub = scores[scores["score"] == metric]
    vals = pd.to_numeric(sub["value"], errors="coerce")
    return sub.assign(value=vals).pivot_table(index=block, columns="generator", values="value", aggfunc="mean",
                                              dropna=False)


def rank_long(
    scores: pd.DataFrame, metric: str, references: Iterable[str] = (), block: list[str] | None = None,
    alpha: float = ALPHA,
) -> ScoreRanking | None:
    """:func:`rank_score` for one score of the long scores table, with its goal, ideal and
    reference score read from the table itself; None for a reference score (never ranked)."""
    sub = scores[scores["score"] == metric]
    if sub.empty or bool(sub["reference"].astype(bool).iloc[0]):
        return None
    goal = str(sub["goal"].iloc[0])
    ideal = parse_ideal(sub["ideal"].iloc[0])
    values = wide(scores, metric, block)
    ref_values = None
    if isinstance(ideal, str):
        if ideal not in set(scores["score"]):
            return None  # the reference score did not run: the distance is undefined
        ref_values = wide(scores, ideal, block).reindex(index=values.index)
    return rank_score(values, goal, ideal, references, ref_values, alpha)


def parse_ideal(x: object) -> float | str | None:
    """An ideal as stored in a results table: a number, a reference score's name, or empty."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return x or None
    return float(x)  # type: ignore[arg-type]


def pareto_front(dist: pd.DataFrame) -> list[str]:
    """The rows (contestants) of ``dist`` (columns: distances to the goal, lower is better) that no
    other row dominates: at least as close on every column and strictly closer on one. Rows with
    a missing distance take no part."""
    d = dist.dropna(axis=0, how="any")
    vals = d.to_numpy(dtype=float)
    front = []
    for i, name in enumerate(d.index):
        dominated = np.any(np.all(vals <= vals[i], axis=1) & np.any(vals < vals[i], axis=1))
        if not dominated:
            front.append(name)
    return front
