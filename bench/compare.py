"""``python -m bench compare RUN_A RUN_B``: which scores moved, by how much, beyond the seed spread,
and whether each move is better or worse.

Better and worse come from the score's own semantics, the same as the ranking's
(:func:`metrics.base.distance_to_goal`): a move towards the goal's ideal is better, away from it
worse. A target score is better when it comes closer to its ideal (a number, or its real-data
reference score in the same run: ``label_fidelity_auroc`` towards the real classifier's AUROC,
whichever side it was on); a capped score earns nothing beyond its ideal (a membership-inference
AUROC going from 0.45 to 0.40 is no better than fresh records: "same distance").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.io import read_json
from bench.ranking import parse_ideal
from bench.report import check_run_dir
from bench.results import load_tables, run_references
from bench.tables import summarize
from metrics.base import distance_to_goal

TINY = 1e-12


def run_summary(run_dir: Path) -> pd.DataFrame:
    """The summary of a run or of a rendered folder (the committed leaderboard), read only: a
    comparison writes nothing into either."""
    check_run_dir(run_dir)
    gens = list(read_json(run_dir / "manifest.json").get("generators", {}))
    scores, _ = load_tables(run_dir)
    return summarize(scores, gens, run_references(scores, gens))


def compare(run_a: Path, run_b: Path, k: float = 2.0, include_speed: bool = False) -> pd.DataFrame:
    """One row per (dataset, generator, score) in either run: :func:`compare_summaries` of the two
    runs' summaries."""
    return compare_summaries(run_summary(run_a), run_summary(run_b), k, include_speed)


def goal_distances(summary: pd.DataFrame) -> pd.Series:
    """Each summary row's mean, as its distance to the goal (lower is better; nan when undefined).

    An ideal that names a reference score takes that score's mean for the same dataset and
    generator, else its median over the dataset's generators (a real-data reference is the same
    for every generator of a split); when the reference score is not in the run the distance is
    undefined.
    """
    means = summary.groupby(["dataset", "generator", "score"])["mean"].first()
    medians = summary.groupby(["dataset", "score"])["mean"].median()
    out = []
    for r in summary.itertuples():
        ideal = parse_ideal(r.ideal)
        if isinstance(ideal, str):
            ref = means.get((r.dataset, r.generator, ideal), np.nan)
            ideal = medians.get((r.dataset, ideal), np.nan) if pd.isna(ref) else ref
            if pd.isna(ideal):
                out.append(np.nan)
                continue
        if pd.isna(r.mean) or r.goal not in ("maximize", "minimize", "target") or (r.goal == "target" and ideal is None):
            out.append(np.nan)
            continue
        out.append(float(distance_to_goal(float(r.mean), r.goal, None if ideal is None else float(ideal))))
    return pd.Series(out, index=summary.index, dtype=float)


def compare_summaries(a: pd.DataFrame, b: pd.DataFrame, k: float = 2.0, include_speed: bool = False) -> pd.DataFrame:
    """One row per (dataset, generator, score) in either summary (bench.tables.summarize).

    A score moved beyond the spread when |mean_B - mean_A| > k * sqrt(std_A² + std_B²); with one
    seed (no spread) any change at all counts. ``direction``: better / worse when the distance to
    the goal (:func:`goal_distances`, each run against its own reference scores) fell / rose;
    "same distance" when the value moved but its distance did not (both beyond a capped ideal);
    "changed" when the distance is undefined; "unchanged", "only in A", "only in B". Speed scores
    measure the machine as much as the code, so they are left out unless asked for.
    """
    a = a.assign(dist=goal_distances(a))
    b = b.assign(dist=goal_distances(b))
    if not include_speed:
        a, b = a[a["category"] != "speed"], b[b["category"] != "speed"]
    keys = ["dataset", "generator", "category", "score", "goal"]
    cols = ["mean", "std", "n", "dist"]
    m = a[keys + cols].merge(b[keys + cols], on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    m["delta"] = m["mean_b"] - m["mean_a"]
    spread = np.sqrt(m["std_a"].fillna(0) ** 2 + m["std_b"].fillna(0) ** 2)
    m["spread"] = spread
    m["beyond_spread"] = (m["delta"].abs() > np.maximum(k * spread, TINY)) & m["delta"].notna()
    moved = m["dist_b"] - m["dist_a"]
    m["direction"] = np.select(
        [m["_merge"] == "left_only", m["_merge"] == "right_only", m["delta"].abs() <= TINY,
         moved.isna(), moved.abs() <= TINY, moved < 0],
        ["only in A", "only in B", "unchanged", "changed", "same distance", "better"],
        default="worse",
    )
    m = m.rename(columns={"dist_a": "distance_a", "dist_b": "distance_b"})
    return m.drop(columns="_merge").sort_values(["dataset", "category", "score", "generator"], kind="stable")


def compare_markdown(df: pd.DataFrame, run_a: Path, run_b: Path) -> str:
    moved = df[df["beyond_spread"] | df["direction"].isin(["only in A", "only in B"])]
    lines = [f"A: {run_a}", f"B: {run_b}", "",
             f"{int(df['beyond_spread'].sum())} of {len(df)} scores moved beyond the seed spread. Better / "
             "worse: closer to / farther from the score's ideal (its real reference for a target; no "
             "credit beyond a capped ideal).", ""]
    if moved.empty:
        return "\n".join(lines) + "\n"
    lines += ["| dataset | generator | score | A | B | Δ | spread | |", "|---|---|---|---|---|---|---|---|"]
    for r in moved.itertuples():
        def f(x: float) -> str:
            return "—" if pd.isna(x) else f"{x:.4g}"

        lines.append(f"| {r.dataset} | {r.generator} | {r.score} | {f(r.mean_a)} | {f(r.mean_b)} | "
                     f"{f(r.delta)} | {f(r.spread)} | {r.direction} |")
    return "\n".join(lines) + "\n"
