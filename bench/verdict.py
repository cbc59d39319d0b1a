"""The answer the suite exists for: does A beat B, by how much, and could the run have told?

For every pair (A, B) and headline score: the mean paired difference of the per-block distances to
the score's ideal (``advantage_a`` = distance of B - distance of A, so positive means A is closer
to the ideal, in the score's own units), its 95% t interval over blocks, the paired t-test's p,
Holm-adjusted over the pairs compared on that score in that scope, the verdict ("A better",
"B better", "not separated"), and the smallest difference the blocks could detect at 80% power
given the observed spread of the paired differences (bench.stats), so "not separated" reads as
what it is: no evidence either way at that size.

Scopes: each dataset (blocks = its seeds, each seed its own split), and with several datasets all
blocks pooled with the dataset as a fixed effect (bench.stats.pooled_difference). A pair where
either side is missing a block of the scope is not compared there (``n/a``: a failure is never a
win).

Default pairs: MedDiff (the plain ``meddiff`` row) against each peer of another generator class;
without MedDiff in the run, the headline leader against each other contestant.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from bench.headline import FACETS, POOLED, Facet, run_facets
from bench.ranking import distances, parse_ideal, reference_generators, wide
from bench.stats import ALPHA, holm, paired_difference, pooled_difference

CONTROL = "meddiff"
COLUMNS = ["scope", "a", "b", "facet", "score", "n_blocks", "advantage_a", "ci_low", "ci_high", "p_value",
           "p_holm", "verdict", "mdd80", "note"]


def default_pairs(scores: pd.DataFrame, references: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """MedDiff against each contestant of another generator class; without MedDiff, the first
    contestant in the headline's order against each other."""
    gens = list(dict.fromkeys(scores["generator"].astype(str)))
    refs = set(reference_generators(gens) if references is None else references)
    contest = [g for g in gens if g not in refs]
    control = CONTROL if CONTROL in contest else next((g for g in contest if g.split(":")[0] == CONTROL), None)
    if control is not None:
        return [(control, g) for g in contest if g.split(":")[0] != CONTROL]
    if len(contest) < 2:
        return []
    from bench.headline import headline_table

    table = headline_table(scores, references=refs)
    order = list(dict.fromkeys(table.loc[table["role"] == "contestant", "generator"])) or contest
    return [(order[0], g) for g in order[1:]]


def _distances(sub: pd.DataFrame, score: str, block: list[str]) -> pd.DataFrame | None:
    part = sub[sub["score"] == score]
    if part.empty:
        return None
    goal, ideal = str(part["goal"].iloc[0]), parse_ideal(part["ideal"].iloc[0])
    values = wide(sub, score, block)
    ref = None
    if isinstance(ideal, str):
        if ideal not in set(sub["score"]):
            return None
        ref = wide(sub, ideal, block).reindex(index=values.index)
    d = distances(values, goal, ideal, ref)
    return d.loc[d.notna().any(axis=1)]


def verdict_table(
    scores: pd.DataFrame, pairs: list[tuple[str, str]] | None = None, facets: tuple[Facet, ...] = FACETS,
    references: Iterable[str] | None = None, alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per (scope, pair, facet); see the module docstring."""
    if scores.empty:
        return pd.DataFrame(columns=COLUMNS)
    pairs = default_pairs(scores, references) if pairs is None else pairs
    facets, fallback = run_facets(scores, facets)
    if fallback or not pairs:
        return pd.DataFrame(columns=COLUMNS)
    datasets = list(dict.fromkeys(scores["dataset"]))
    scopes = [(d, scores[scores["dataset"] == d], ["seed"]) for d in datasets]
    if len(datasets) > 1:
        scopes.append((POOLED, scores, ["dataset", "seed"]))
    rows = []
    for scope, sub, block in scopes:
        for f in facets:
            dist = _distances(sub, f.score, block)
            if dist is None:
                continue
            found, pvals = [], {}
            for a, b in pairs:
                row = {"scope": scope, "a": a, "b": b, "facet": f.title, "score": f.score, "n_blocks": len(dist),
                       "advantage_a": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                       "p_holm": np.nan, "verdict": "n/a", "mdd80": np.nan, "note": ""}
                missing = {g: int(dist[g].isna().sum()) if g in dist.columns else len(dist) for g in (a, b)}
                if any(missing.values()):
                    row["note"] = "; ".join(f"{g}: {k} of {len(dist)} failed" for g, k in missing.items() if k)
                    found.append(row)
                    continue
                diffs = dist[b] - dist[a]
                if scope == POOLED:
                    res = pooled_difference(diffs, pd.Series(dist.index.get_level_values("dataset"), index=dist.index))
                else:
                    res = paired_difference(diffs.to_numpy(float), alpha)
                row.update(advantage_a=res.mean, ci_low=res.ci_low, ci_high=res.ci_high, p_value=res.p_value,
                           mdd80=res.mdd, n_blocks=res.n)
                pvals[f"{a}\0{b}"] = res.p_value
                found.append(row)
            adjusted = holm(pvals)
            for row in found:
                key = f"{row['a']}\0{row['b']}"
                if key not in adjusted:
                    continue
                row["p_holm"] = adjusted[key]
                if row["p_holm"] < alpha and abs(row["advantage_a"]) > 1e-12:
                    row["verdict"] = f"{row['a']} better" if row["advantage_a"] > 0 else f"{row['b']} better"
                else:
                    row["verdict"] = "not separated"
            rows += found
    return pd.DataFrame(rows, columns=COLUMNS)


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return f"{x:.2e}" if x != 0 and abs(x) < 0.001 else f"{x:.3f}"


def verdict_markdown(table: pd.DataFrame, caption: str = "") -> str:
    """verdict.md: one table per scope; rows grouped by pair."""
    out = ["# Verdict: paired comparisons", ""]
    if table.empty:
        return "\n".join(out + ["No pair to compare (a run needs two contestants with headline scores).", ""])
    for scope, sub in table.groupby("scope", sort=False):
        pooled = scope == POOLED
        out += [f"## {scope}" + (" (pooled: dataset as a fixed effect)" if pooled else ""), "",
                "| A vs B | score | advantage of A (95% CI) | p (Holm) | verdict | detectable at 80% power | blocks |",
                "|---|---|---|---|---|---|---|"]
        for r in sub.itertuples():
            if r.verdict == "n/a":
                out.append(f"| {r.a} vs {r.b} | {r.facet} | n/a ({r.note}) | | n/a | | {r.n_blocks} |")
                continue
            ci = f"{_num(r.advantage_a)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
            out.append(f"| {r.a} vs {r.b} | {r.facet} | {ci} | {_num(r.p_holm)} | {r.verdict} | ± {_num(r.mdd80)} | "
                       f"{r.n_blocks} |")
        out.append("")
    out.append(
        "Advantage of A: the mean over blocks of (B's distance to the score's ideal − A's), in the score's units; "
        "positive: A closer to the ideal. 95% t interval over blocks; p: two-sided paired t-test, Holm-adjusted over "
        "the pairs compared on that score. Detectable at 80% power: the difference these blocks would detect four "
        "times in five at alpha 0.05, from the observed spread of the paired differences; a 'not separated' pair "
        "whose interval lies within it is no evidence of equality, only of a difference smaller than it or none.")
    if caption:
        out += ["", caption]
    return "\n".join(out) + "\n"
