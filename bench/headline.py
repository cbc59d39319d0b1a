"""The headline table: one row per generator, one column per facet of the verdict.

What a reader needs first, from the long scores table of a run (scores.csv and timings.csv
together): for each dataset (and, with several datasets, all of them pooled, blocks = (dataset,
seed)) every contestant in order of merit — the mean over the facets of its mean rank over blocks
(bench.ranking) — then the reference generators apart (marked †), then one row of real-data
reference scores. Each cell is what the facet ranks, mean ± 95% t half-width over blocks (a score
with an ideal clipped at it; a target as its distance); bold is the facet's leading set. A
contestant missing a block shows ``n/a (k of n failed)`` there and is listed, unranked, after the
ranked ones. No row cap: every contestant is shown.

The facets are chosen so that each can separate: dim-wise prediction, detection, an association
score the independent-marginals reference does not win (``pair_fidelity_assoc``: the pairs with a
real association; plain ``pair_fidelity`` is dominated by the many independent pairs, so
``independent`` wins it), TSTR, label fidelity as a distance, the strongest privacy attack, and
sampling time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.ranking import rank_long, reference_generators, shown_values
from bench.schedules import footnotes
from bench.schedules import label as schedule_label
from bench.tables import BOLD_RULE, CELL_RULE, REF_MARK, fmt_cell, t_interval

POOLED = "all datasets"


@dataclass(frozen=True)
class Facet:
    """One column: the score it shows (the first of ``score`` and ``alternatives`` the run has),
    how it is shown, and its real-data reference score if any."""

    title: str
    score: str
    arrow: str
    shift: float = 0.0  # shown as value - shift (e.g. attack AUROC as its excess over 0.5)
    reference: str | None = None
    alternatives: tuple[tuple[str, float], ...] = ()  # (score, its shift), used when ``score`` did not run

    def pick(self, present: set[str]) -> tuple[str, float] | None:
        return next((c for c in ((self.score, self.shift), *self.alternatives) if c[0] in present), None)


FACETS = (
    Facet("dim-wise prediction AUROC", "dwpred_auroc_syn", "↑ to real", reference="dwpred_auroc_real"),
    Facet("detection AUROC", "detection_auroc", "↓ to 0.5"),
    Facet("pair fidelity (associated pairs)", "pair_fidelity_assoc", "↑"),
    Facet("outcomes TSTR AUROC", "outcomes_tstr_auroc", "↑ to TRTR", reference="outcomes_trtr_auroc"),
    Facet("label fidelity AUROC, distance to real", "label_fidelity_auroc", "↓", reference="label_fidelity_real_auroc"),
    Facet("MIA AUROC − 0.5, strongest attack", "mia_strongest", "↓ to 0",
          alternatives=(("domias_auroc", 0.5), ("mia_dcr_auroc", 0.5))),
    Facet("sampling s", "sample_s", "↓"),
)
REAL_ROW = "real data (reference scores)"
MAX_FALLBACK_COLUMNS = 8
_ARROWS = {"maximize": "↑", "minimize": "↓", "target": "→"}


def run_facets(scores: pd.DataFrame, facets: tuple[Facet, ...] = FACETS) -> tuple[tuple[Facet, ...], bool]:
    """The facets a run can show (each bound to the score it has), and whether they are the run's
    own scores instead: a run that computed none of the headline's scores (``-m
    dimwise_probability``) still gets one row per generator, with its first scores as columns."""
    present = set(scores["score"]) if not scores.empty else set()
    bound = tuple(Facet(f.title, c[0], f.arrow, c[1], f.reference)
                  for f in facets if (c := f.pick(present)) is not None)
    if any(f.score != "sample_s" for f in bound):
        return bound, False
    own = scores[~scores["reference"].astype(bool)] if "reference" in scores else scores
    own = own[own["category"] != "speed"] if "category" in own else own
    goals = dict(zip(own["score"], own["goal"], strict=False))
    names = list(dict.fromkeys(own["score"]))[:MAX_FALLBACK_COLUMNS]
    return tuple(Facet(n, n, _ARROWS.get(goals.get(n), "")) for n in names), True


def _groups(scores: pd.DataFrame):
    """(label, its scores, block columns): each dataset over its seeds; with several datasets also
    all of them pooled over (dataset, seed) blocks."""
    datasets = list(dict.fromkeys(scores["dataset"]))
    for d in datasets:
        yield d, scores[scores["dataset"] == d], ["seed"]
    if len(datasets) > 1:
        yield POOLED, scores, ["dataset", "seed"]


def headline_table(
    scores: pd.DataFrame, generators: list[str] | None = None, references: Iterable[str] | None = None,
    facets: tuple[Facet, ...] = FACETS,
) -> pd.DataFrame:
    """Long form: one row per (dataset, generator, facet) with the shown mean, 95% half-width, n,
    role, mean rank, ``best`` and ``failed`` / ``n_blocks``; rows in the headline's order
    (contestants by overall mean rank, incomplete ones after, then references, then the real
    row). ``scores``: the long scores table (speed rows included for the sampling time)."""
    cols = ["dataset", "generator", "role", "facet", "score", "mean", "ci95", "n", "rank", "best", "failed",
            "n_blocks", "overall_rank"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    refs = set(reference_generators(scores["generator"].unique()) if references is None else references)
    facets, _ = run_facets(scores, facets)
    rows = []
    for group, sub, block in _groups(scores):
        gens = list(dict.fromkeys([*(generators or []), *sorted(set(sub["generator"]))]))
        gens = [g for g in gens if g in set(sub["generator"])]
        part_rows, ranks, incomplete = [], {}, set()
        for f in facets:
            if sub[sub["score"] == f.score].empty:
                continue
            verdict = rank_long(sub, f.score, refs, block=block)
            shown, _ = shown_values(sub, f.score, block)
            for g in gens:
                vals = shown[g].to_numpy(float) if g in shown.columns else np.array([])
                mean, _, half, n = t_interval(vals - f.shift)
                miss = verdict.incomplete.get(g, (0, 0)) if verdict is not None else (0, 0)
                rank = float(verdict.rank.get(g, np.nan)) if verdict is not None else np.nan
                if miss[0]:
                    incomplete.add(g)
                if g not in refs and not np.isnan(rank):
                    ranks.setdefault(g, []).append(rank)
                part_rows.append({"dataset": group, "generator": g, "role": "reference" if g in refs else "contestant",
                                  "facet": f.title, "score": f.score, "mean": mean, "ci95": half, "n": n,
                                  "rank": rank, "best": verdict is not None and g in verdict.best,
                                  "failed": miss[0], "n_blocks": verdict.n_blocks if verdict is not None else n})
            target = str(sub.loc[sub["score"] == f.score, "goal"].iloc[0]) == "target"
            if f.reference is not None and not target:  # a target column shows distances: real's is 0
                ref = sub[sub["score"] == f.reference]
                # one value per block: the reference is the same for every generator of a split
                per_block = pd.to_numeric(ref["value"], errors="coerce").groupby([ref[c] for c in block]).median()
                mean, _, half, n = t_interval(per_block.to_numpy(float))
                part_rows.append({"dataset": group, "generator": REAL_ROW, "role": "real", "facet": f.title,
                                  "score": f.reference, "mean": mean, "ci95": half, "n": n, "rank": np.nan,
                                  "best": False, "failed": 0, "n_blocks": n})
        overall = {g: float(np.mean(r)) for g, r in ranks.items() if g not in incomplete}
        contest = [g for g in gens if g not in refs]
        ranked = sorted((g for g in contest if g in overall), key=lambda g: (overall[g], g))
        order = ranked + sorted(g for g in contest if g not in overall) + [g for g in gens if g in refs] + [REAL_ROW]
        place = {g: i for i, g in enumerate(order)}
        for r in part_rows:
            r["overall_rank"] = overall.get(r["generator"], np.nan)
        rows += sorted(part_rows, key=lambda r: place[r["generator"]])
    return pd.DataFrame(rows, columns=cols)


def headline_markdown(
    scores: pd.DataFrame, generators: list[str] | None = None, references: Iterable[str] | None = None,
    facets: tuple[Facet, ...] = FACETS, schedules: dict | None = None, caption: str = "",
    schedule_basis: dict[str, str] | None = None, jobs: pd.DataFrame | None = None,
) -> str:
    """The headline table in Markdown, one block per dataset (and one for all datasets pooled),
    every contestant in order of merit. ``schedules``: the run's (dataset, generator) -> schedule
    fractions (bench.schedules.schedule_fractions), for the ‡ marks; ``caption``: the run's
    caption (preset, seeds, data), after the legend; ``jobs`` (jobs.csv): a contestant whose every
    job on a dataset failed has no score to show, and gets its row of ``n/a`` from here."""
    schedules = schedules or {}
    facets, fallback = run_facets(scores, facets)
    table = headline_table(scores, generators, references, facets)
    out = []
    if fallback and facets:
        out += ["(This run computed none of the headline's scores; the columns are its own first scores.)", ""]
    for dataset, sub in table.groupby("dataset", sort=False):
        shown = [f for f in facets if f.title in set(sub["facet"])]
        heading = f"## {dataset}: headline" + (" (blocks: every dataset × seed)" if dataset == POOLED else "")
        out += [heading, "",
                "| generator | mean rank | " + " | ".join(f"{f.title} {f.arrow}" for f in shown) + " |",
                "|---|---|" + "---|" * len(shown)]
        names = list(dict.fromkeys(sub["generator"]))
        roles = sub.groupby("generator")["role"].first()
        contest = [g for g in names if roles[g] == "contestant"]
        refs = [g for g in names if roles[g] == "reference"]
        real = [g for g in names if g == REAL_ROW]
        cells = {(r.generator, r.facet): r for r in sub.itertuples()}
        overall = sub.groupby("generator")["overall_rank"].first()

        def mark(g: str, ds: str = dataset) -> str:
            return g if ds == POOLED else schedule_label(g, ds, schedules)

        for g in contest:
            r = overall.get(g, np.nan)
            out.append(_line(cells, shown, g, mark(g), "incomplete" if pd.isna(r) else f"{r:.2f}"))
        for g, n in _all_failed(jobs, dataset, set(names)).items():
            out.append(f"| {g} | incomplete | " + " | ".join(f"n/a ({n} of {n} failed)" for _ in shown) + " |")
        if refs or real:
            out.append(f"| *references {REF_MARK} (not ranked)* | |" + " |" * len(shown))
        out += [_line(cells, shown, g, f"{mark(g)} {REF_MARK}", "") for g in refs]
        out += [_line(cells, shown, g, f"*{g}*", "") for g in real]
        out.append("")
        if dataset != POOLED:
            for note in footnotes(schedules, dataset, contest + refs, basis=schedule_basis):
                out += [note, ""]
    cells_rule = "" if caption else f"{CELL_RULE}; {BOLD_RULE}. "
    out.append(
        f"{cells_rule}Mean rank: the mean over the columns of each contestant's mean rank over blocks (1 = best); "
        "rows in that order, contestants missing a block after them. Arrows: ↑/↓ better up to the ideal named "
        "(no credit beyond it: an attack AUROC below 0.5 counts as 0.5), '↓ to real': the distance to the real "
        "reference. MIA: the strongest membership-inference attack the run computed (mia_strongest: the largest "
        "excess over chance of DOMIAS and GAN-leaks, plain and calibrated; else DOMIAS or the DCR attack alone)."
    )
    if caption:
        out += ["", caption]
    return "\n".join(out).strip() + "\n"


def _all_failed(jobs: pd.DataFrame | None, dataset: str, shown: set[str]) -> dict[str, int]:
    """Contestants with jobs on ``dataset`` (every dataset for the pooled block) but no score row
    at all: every one of their jobs failed. name -> number of failed jobs."""
    if jobs is None or jobs.empty or "status" not in jobs.columns:
        return {}
    part = jobs if dataset == POOLED else jobs[jobs["dataset"] == dataset]
    refs = reference_generators(part["generator"].astype(str).unique())
    out = {}
    for g, rows in part.groupby("generator", sort=True):
        if g not in shown and g not in refs and (rows["status"] != "ok").all():
            out[str(g)] = int(len(rows))
    return out


def _line(cells: dict, shown: list[Facet], g: str, label: str, rank: str) -> str:
    row = []
    for f in shown:
        r = cells.get((g, f.title))
        if r is None:
            text = ""
        elif r.failed and r.role == "contestant":
            text = f"n/a ({int(r.failed)} of {int(r.n_blocks)} failed)"
        else:
            text = fmt_cell(r.mean, r.ci95, r.n)
        row.append(f"**{text}**" if r is not None and r.best else text)
    return f"| {label} | {rank} | " + " | ".join(row) + " |"


def facet_scores(facets: tuple[Facet, ...] = FACETS) -> list[str]:
    """The scores the headline can use (for a run's metric selection)."""
    names = [s for f in facets for s in (f.score, *(a for a, _ in f.alternatives))]
    return list(dict.fromkeys(names + [f.reference for f in facets if f.reference]))
