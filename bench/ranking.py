"""The one place that decides the order of merit on a score and which contestants lead it.

Every table, the headline, the report, the verdict and the use-case ranking call
:func:`rank_score`; nothing else turns goals into orderings. The rules (docs/metrics.md, "Ranking
and bolding"):

- **One estimand per score.** A score's values become distances to its goal, block by block (a
  block is one (dataset, seed) job, each seed with its own split), through
  :func:`metrics.base.distance_to_goal`: goal, numeric ideal (no credit beyond it), or the value of
  the named real-data reference score in the same block.
- **References apart.** Reference generators (``independent``, ``real-copy`` and any generator
  class with ``is_reference = True``) are never ranked or bolded; reference scores (TRTR ...) are
  never ranked at all.
- **Failures are never winners.** A contestant without a value in some block of the score (its
  job failed there) is *incomplete*: it is shown as ``n/a (k of n failed)``, never ranked, never
  bolded. A contestant with no value in any block, where other contestants have values, is
  incomplete too (``n/a (n of n failed)``): its output made the score undefined everywhere (TVAE
  sampling one class only, so label fidelity has no AUROC), and a score its rivals are judged on
  cannot be skipped for it. Blocks where no contestant has a value are dropped.
- **Order by merit.** Within each block the complete contestants are ranked by distance (1 =
  closest, ties averaged); the order is by mean rank over blocks (Friedman-style average ranks),
  ties broken by mean distance. A contestant never stands above one that beats it in a strict
  majority of blocks *and* on mean distance: where average ranks would put it there (ranks depend
  on which other contestants sit between two), the dominating one is moved up.
- **Bold is a leading set closed downward in merit.** The leader is first in that order. Every
  other complete contestant is compared with it by a two-sided paired t-test on the per-block
  distances (bench.stats: why not Wilcoxon), Holm-corrected over every pair of complete
  contestants (the leader is chosen from the same data, so the comparisons with it alone are no
  pre-specified family: the wider family keeps the chance of excluding anyone from a field of
  equals at or below alpha). The leading set is the leader and every contestant the corrected
  test cannot separate from it (worse on mean distance at adjusted p < alpha), closed downward:
  every contestant at a better position than a member is a member. When the set is the whole
  field nothing is bolded: no winner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.stats import ALPHA, holm, min_detectable_difference, paired_p
from metrics.base import distance_to_goal

REFERENCE_NAMES = frozenset({"independent", "real-copy"})
TEST_NAME = ("mean rank over blocks; leading set: two-sided paired t-tests against the leader on per-block "
             "distances to the goal, Holm-corrected over all pairs, alpha 0.05, closed downward in merit")
TINY = 1e-12

__all__ = ["ALPHA", "ScoreRanking", "distances", "is_reference_generator", "merit_order", "paired_p",
           "parse_ideal", "pareto_front", "rank_long", "rank_score", "reference_generators", "wide"]


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
    """The verdict on one score.

    ``order`` lists the complete contestants best first; ``position`` gives each its place (1 =
    best; exact ties share one); ``rank`` is the mean per-block rank the order rests on.
    ``group`` is the leading set, ``best`` what tables bold (the group when it is smaller than the
    field of complete contestants, else nothing). ``incomplete`` maps each contestant missing some
    block to (blocks missing, blocks of the score).
    """

    mean_distance: pd.Series  # every contestant with a value, mean over its blocks (lower is better)
    rank: pd.Series  # complete contestants: mean rank over blocks (1 = best)
    order: list[str]
    position: pd.Series
    leaders: list[str]  # the first position (exact ties all listed)
    group: list[str]
    best: list[str]
    p_value: float  # Holm-adjusted p of the runner-up against the leader; nan when none
    p_values: dict[str, float] = field(default_factory=dict)  # raw, leader vs each other complete contestant
    p_adjusted: dict[str, float] = field(default_factory=dict)  # Holm-adjusted
    mdd: dict[str, float] = field(default_factory=dict)  # detectable difference vs the leader at 80% power
    incomplete: dict[str, tuple[int, int]] = field(default_factory=dict)
    distances: pd.DataFrame | None = None  # blocks x contestants (incomplete ones included)
    n_blocks: int = 0
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


def merit_order(dist: pd.DataFrame) -> tuple[list[str], pd.Series, pd.Series]:
    """(order, mean rank, position) of the columns of ``dist`` (blocks x complete contestants).

    Sorted by mean per-block rank, then mean distance; then repaired so that no contestant stands
    above one that beats it in a strict majority of blocks and on mean distance (that relation
    follows the mean distance, so it has no cycle). Names only break exact ties, which share a
    position.
    """
    names = list(dist.columns)
    if not names:
        empty = pd.Series(dtype=float)
        return [], empty, empty
    ranks = dist.rank(axis=1, method="average")
    mean_rank = ranks.mean(axis=0)
    mean_dist = dist.mean(axis=0)
    vals = dist.to_numpy(dtype=float)
    n_blocks = vals.shape[0]
    wins = {(a, b): int((vals[:, i] < vals[:, j] - TINY).sum())
            for i, a in enumerate(names) for j, b in enumerate(names) if i != j}

    def dominates(b: str, a: str) -> bool:  # b beats a in most blocks and on average
        return 2 * wins[(b, a)] > n_blocks and mean_dist[b] < mean_dist[a] - TINY

    key = {g: (round(float(mean_rank[g]), 9), round(float(mean_dist[g]), 12), g) for g in names}
    remaining = sorted(names, key=key.__getitem__)
    order: list[str] = []
    while remaining:
        pick = next(g for g in remaining if not any(dominates(h, g) for h in remaining if h != g))
        order.append(pick)
        remaining.remove(pick)
    position: dict[str, float] = {}
    for i, g in enumerate(order):
        prev = order[i - 1] if i else None
        tied = prev is not None and key[prev][:2] == key[g][:2]
        position[g] = position[prev] if tied and prev is not None else float(i + 1)
    return order, mean_rank.astype(float), pd.Series(position, dtype=float)


def rank_score(
    values: pd.DataFrame, goal: str, ideal: float | str | None = None, references: Iterable[str] = (),
    reference_values: pd.DataFrame | pd.Series | None = None, alpha: float = ALPHA,
) -> ScoreRanking:
    """Rank the contestants of one score; ``values`` is blocks x generators (NaN: no value).

    References (``references`` and the generators :func:`is_reference_generator` knows) are
    dropped before anything is compared; blocks where no contestant has a value are dropped.
    """
    refs = set(references)
    contest = [g for g in values.columns if not is_reference_generator(str(g), refs)]
    dist = distances(values[contest], goal, ideal, reference_values) if contest else pd.DataFrame(index=values.index)
    if len(dist.columns):
        dist = dist.loc[dist.notna().any(axis=1)]
        if not len(dist.index):  # no contestant has the score anywhere: nobody is judged on it
            dist = dist.loc[:, []]
    n_blocks = int(len(dist.index))
    mean = dist.mean(axis=0, skipna=True)
    missing = dist.isna().sum(axis=0) if len(dist.columns) else pd.Series(dtype=int)
    incomplete = {str(g): (int(missing[g]), n_blocks) for g in dist.columns if missing[g] > 0}
    complete = dist[[g for g in dist.columns if g not in incomplete]]
    order, mean_rank, position = merit_order(complete)
    if not order:
        empty = pd.Series(dtype=float)
        return ScoreRanking(mean, empty, [], empty, [], [], [], float("nan"), incomplete=incomplete,
                            distances=dist, n_blocks=n_blocks)
    leader = order[0]
    leaders = [g for g in order if position[g] == position[leader]]
    others = [g for g in order if g != leader]
    # Holm over every pair, not only the comparisons with the leader: the leader is picked from the
    # same data, so comparing it with each other contestant is not a family fixed in advance (on null
    # tables the k - 1 family excluded someone 9% of the time at alpha 0.05). Any exclusion is a
    # rejection within the family of all pairs, whose family-wise error Holm bounds by alpha.
    pair_p = {f"{a}\0{b}": paired_p(complete[a].to_numpy(), complete[b].to_numpy())
              for i, a in enumerate(order) for b in order[i + 1:]}
    adjusted_all = holm(pair_p)
    raw = {g: pair_p[f"{leader}\0{g}"] for g in others}
    adjusted = {g: adjusted_all[f"{leader}\0{g}"] for g in others}
    worse = {g: float((complete[g] - complete[leader]).mean()) > TINY for g in others}
    unseparated = [g for g in others if not (adjusted[g] < alpha and worse[g])]
    cut = max([position[leader]] + [position[g] for g in unseparated])
    group = [g for g in order if position[g] <= cut]
    best = group if len(group) < len(order) else []
    mdd = {g: min_detectable_difference((complete[g] - complete[leader]).to_numpy(), alpha) for g in others}
    return ScoreRanking(
        mean_distance=mean, rank=mean_rank.reindex(order), order=order, position=position.reindex(order),
        leaders=leaders, group=group, best=best,
        p_value=adjusted[order[1]] if len(order) > 1 else float("nan"), p_values=raw, p_adjusted=adjusted,
        mdd=mdd, incomplete=incomplete, distances=dist, n_blocks=n_blocks,
    )


# ----------------------------------------------------------------------- from the long scores table
def wide(scores: pd.DataFrame, metric: str, block: list[str] | None = None) -> pd.DataFrame:
    """Blocks x generators of one score from the long scores table (columns generator, dataset,
    seed, score, value); blocks are (dataset, seed) unless ``block`` says otherwise."""
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
    reference score read from the table itself; None for a reference score (never ranked). A
    failed job has no score rows: its block is missing for its generator, which is incomplete.
    """
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


def shown_values(scores: pd.DataFrame, metric: str, block: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """What a table cell of ``metric`` shows, per block and generator (references included), and
    its kind: the quantity that is ranked, in the score's own units.

    - ``value``: no ideal (or its reference score did not run): the value itself.
    - ``clipped``: a maximize/minimize score with an ideal: the value clipped at the ideal (an
      attack AUROC below 0.5 counts as 0.5), so its mean is the ideal's mean minus (plus) the mean
      distance that is ranked.
    - ``distance``: a target score (two-sided): |value - ideal|, the distance that is ranked.
    """
    sub = scores[scores["score"] == metric]
    values = wide(scores, metric, block)
    if sub.empty:
        return values, "value"
    goal = str(sub["goal"].iloc[0])
    ideal = parse_ideal(sub["ideal"].iloc[0])
    if ideal is None:
        return values, "value"
    ref = None
    if isinstance(ideal, str):
        if ideal not in set(scores["score"]):
            return values, "value"
        ref = wide(scores, ideal, block).reindex(index=values.index)
    d = distances(values, goal, ideal, ref)
    if goal == "target":
        return d, "distance"
    if isinstance(ideal, str):
        full = ref.astype(float)  # type: ignore[union-attr]
        ideal_b = full.reindex(columns=values.columns).apply(lambda col: col.fillna(full.median(axis=1, skipna=True)))
    else:
        ideal_b = pd.DataFrame(float(ideal), index=values.index, columns=values.columns)
    shown = ideal_b - d if goal == "maximize" else ideal_b + d
    return shown.where(values.notna()), "clipped"


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
