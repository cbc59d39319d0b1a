"""Friedman's test and the critical-difference diagram across datasets (Demšar 2006).

Demšar's blocks are independent datasets: seeds of one dataset are repeated draws from one
problem, not a sample of problems, so a CD over them answers another question (and with a handful
of seeds its CD spans most of the scale). Each dataset contributes one value per contestant: its
mean distance to the score's ideal over that dataset's seeds. The diagram is drawn only when the
run has at least :data:`bench.stats.MIN_DATASETS_FOR_CD` datasets on which every ranked contestant
has a complete set of blocks; otherwise the report says why it is absent.

Layout: the rank axis on top; contestants hang below it on elbow lines, the better half labelled
on the left and the rest on the right, one label per row, so labels never overlap; thick bars join
contestants whose mean ranks differ by less than the critical difference (Nemenyi).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.ranking import rank_long
from bench.stats import MIN_DATASETS_FOR_CD, FriedmanResult, friedman_nemenyi


def per_dataset_distances(scores: pd.DataFrame, score: str, references: Iterable[str]) -> pd.DataFrame | None:
    """Datasets x contestants: each contestant's mean distance over its blocks of that dataset;
    a contestant incomplete on a dataset has NaN there. None when the score is not ranked."""
    cols = {}
    for dataset, sub in scores.groupby("dataset", sort=False):
        verdict = rank_long(sub, score, references, block=["seed"])
        if verdict is None or verdict.distances is None:
            continue
        means = verdict.distances.mean(axis=0)
        means[list(verdict.incomplete)] = np.nan
        cols[dataset] = means
    if not cols:
        return None
    return pd.DataFrame(cols).T


def across_datasets(scores: pd.DataFrame, score: str, references: Iterable[str]) -> tuple[FriedmanResult | None, str]:
    """Friedman / Nemenyi over datasets for one score, or (None, why not)."""
    table = per_dataset_distances(scores, score, references)
    if table is None:
        return None, f"{score}: not computed"
    # a dataset on which no contestant is complete (a part of the grid not built yet) ranks no
    # one: it is left out rather than making every contestant incomplete
    table = table.dropna(axis=0, how="all")
    table = table.dropna(axis=1, how="any")  # contestants complete on every remaining dataset
    n = len(table.index)
    if n < MIN_DATASETS_FOR_CD:
        return None, (f"{score}: {n} dataset(s); Friedman's test and the critical difference need at least "
                      f"{MIN_DATASETS_FOR_CD} datasets (Demšar 2006 ranks over datasets, never over seeds of one)")
    if table.shape[1] < 2:
        return None, f"{score}: fewer than two contestants complete on every dataset"
    return friedman_nemenyi(table), ""


def draw(results: list[tuple[str, FriedmanResult]], path: Path) -> bool:
    """One panel per score; see the module docstring for the layout."""
    if not results:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [1.2 + 0.28 * (len(fr.avg_rank) + 1) / 2 for _, fr in results]
    fig, axes = plt.subplots(len(results), 1, figsize=(8, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (score, fr) in zip(axes[:, 0], results, strict=True):
        _panel(ax, score, fr)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _panel(ax, score: str, fr: FriedmanResult) -> None:
    ranks = fr.avg_rank.sort_values(kind="stable")
    k = len(ranks)
    half = (k + 1) // 2
    rows = max(half, k - half)
    ax.set_xlim(-2.2, k + 3.2)
    ax.set_ylim(-(rows + 1.5), 1.6)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", lw=1)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.15], color="black", lw=0.8)
        ax.text(t, 0.3, str(t), ha="center", fontsize=7)
    for i, (name, r) in enumerate(ranks.items()):
        left = i < half
        row = i + 1 if left else k - i
        y = -row * 0.9 + 0.2
        x_end = 0.4 if left else k + 0.6
        ax.plot([r, r, x_end], [0, y, y], color="black", lw=0.7)
        ax.text(x_end + (-0.1 if left else 0.1), y, f"{name} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=7)
    vals = ranks.to_numpy()
    cliques, last = [], -1
    for i in range(k):
        j = max(jj for jj in range(k) if vals[jj] - vals[i] < fr.critical_difference)
        if j > i and j > last:
            cliques.append((vals[i], vals[j]))
            last = j
    for c, (a, b) in enumerate(cliques):
        y = -0.25 - 0.18 * c
        ax.plot([a - 0.05, b + 0.05], [y, y], color="tab:red", lw=3)
    ax.plot([1, 1 + fr.critical_difference], [1.2, 1.2], color="black", lw=1.5)
    ax.text(1 + fr.critical_difference / 2, 1.3, f"CD = {fr.critical_difference:.2f}", ha="center", fontsize=7)
    ax.set_title(f"{score}: mean rank over {fr.n_blocks} datasets (1 = best); Friedman p = {fr.p_value:.3g}, "
                 f"Iman-Davenport p = {fr.iman_davenport_p:.3g}", fontsize=8)
