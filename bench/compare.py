"""``python -m bench compare RUN_A RUN_B``: which scores moved, by how much, beyond the seed spread?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.io import read_json
from bench.report import check_run_dir
from bench.results import write_tables


def run_summary(run_dir: Path) -> pd.DataFrame:
    check_run_dir(run_dir)
    gens = list(read_json(run_dir / "manifest.json").get("generators", {}))
    return write_tables(run_dir, None, gens)


def compare(run_a: Path, run_b: Path, k: float = 2.0, include_speed: bool = False) -> pd.DataFrame:
    """One row per (dataset, generator, metric) in both runs.

    A score moved beyond the spread when |mean_B - mean_A| > k * sqrt(std_A² + std_B²); with one
    seed (no spread) any change at all counts. Speed scores measure the machine as much as the
    code, so they are left out unless asked for.
    """
    a = run_summary(run_a)
    b = run_summary(run_b)
    if not include_speed:
        a, b = a[a["category"] != "speed"], b[b["category"] != "speed"]
    keys = ["dataset", "generator", "category", "score", "goal"]
    m = a[keys + ["mean", "std", "n"]].merge(b[keys + ["mean", "std", "n"]], on=keys, how="outer",
                                             suffixes=("_a", "_b"), indicator=True)
    m["delta"] = m["mean_b"] - m["mean_a"]
    spread = np.sqrt(m["std_a"].fillna(0) ** 2 + m["std_b"].fillna(0) ** 2)
    m["spread"] = spread
    tiny = 1e-12
    m["beyond_spread"] = (m["delta"].abs() > np.maximum(k * spread, tiny)) & m["delta"].notna()
    sign = np.where(m["goal"] == "maximize", 1.0, np.where(m["goal"] == "minimize", -1.0, np.nan))
    m["direction"] = np.select(
        [m["_merge"] == "left_only", m["_merge"] == "right_only", m["delta"].abs() <= tiny,
         np.isnan(sign), m["delta"] * sign > 0],
        ["only in A", "only in B", "unchanged", "changed", "better"],
        default="worse",
    )
    return m.drop(columns="_merge").sort_values(["dataset", "category", "score", "generator"], kind="stable")


def compare_markdown(df: pd.DataFrame, run_a: Path, run_b: Path) -> str:
    moved = df[df["beyond_spread"] | df["direction"].isin(["only in A", "only in B"])]
    lines = [f"A: {run_a}", f"B: {run_b}", "",
             f"{int(df['beyond_spread'].sum())} of {len(df)} scores moved beyond the seed spread.", ""]
    if moved.empty:
        return "\n".join(lines) + "\n"
    lines += ["| dataset | generator | score | A | B | Δ | spread | |", "|---|---|---|---|---|---|---|---|"]
    for r in moved.itertuples():
        def f(x: float) -> str:
            return "—" if pd.isna(x) else f"{x:.4g}"

        lines.append(f"| {r.dataset} | {r.generator} | {r.score} | {f(r.mean_a)} | {f(r.mean_b)} | "
                     f"{f(r.delta)} | {f(r.spread)} | {r.direction} |")
    return "\n".join(lines) + "\n"
