"""The headline table: one row per generator, one column per facet of the verdict.

What a reader needs first, from the long scores table of a run (scores.csv and timings.csv
together): for each dataset the contestants, then the reference generators apart (marked †), then
one row of real-data reference scores; each cell the mean over seeds with its 95% t interval,
the facet's leading group bolded by :func:`bench.ranking.rank_score` (the same rule as every
table); a generator trained on less than its published schedule marked ‡ with its footnote
(bench.schedules). The full per-score tables stay in leaderboard.md and the per-category files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from bench.ranking import rank_long, reference_generators
from bench.schedules import footnotes
from bench.schedules import label as schedule_label
from bench.tables import BOLD_RULE, REF_MARK, fmt_cell, t_interval

MAX_ROWS = 15


@dataclass(frozen=True)
class Facet:
    """One column: the score it shows, how it is shown, and its real-data reference score if any."""

    title: str
    score: str
    arrow: str
    shift: float = 0.0  # shown as value - shift (e.g. attack AUROC as its excess over 0.5)
    reference: str | None = None


FACETS = (
    Facet("dim-wise prediction AUROC", "dwpred_auroc_syn", "↑", reference="dwpred_auroc_real"),
    Facet("detection AUROC", "detection_auroc", "↓ to 0.5"),
    Facet("pair fidelity", "pair_fidelity", "↑"),
    Facet("outcomes TSTR AUROC", "outcomes_tstr_auroc", "↑ to TRTR", reference="outcomes_trtr_auroc"),
    Facet("label fidelity AUROC", "label_fidelity_auroc", "→ real", reference="label_fidelity_real_auroc"),
    Facet("MIA AUROC − 0.5", "mia_dcr_auroc", "↓ to 0", shift=0.5),
    Facet("AIA F1 gain", "aia_f1_gain", "↓ to 0"),
    Facet("sampling s", "sample_s", "↓"),
)
REAL_ROW = "real data (reference scores)"
MAX_FALLBACK_COLUMNS = 8
_ARROWS = {"maximize": "↑", "minimize": "↓", "target": "→"}


def run_facets(scores: pd.DataFrame, facets: tuple[Facet, ...] = FACETS) -> tuple[tuple[Facet, ...], bool]:
    """The facets a run can show, and whether they are the run's own scores instead: a run that
    computed none of the headline's scores (``-m dimwise_probability``) still gets one row per
    generator, with its first scores (not the real-data references) as the columns."""
    present = set(scores["score"]) if not scores.empty else set()
    if any(f.score in present for f in facets if f.score != "sample_s"):
        return facets, False
    own = scores[~scores["reference"].astype(bool)] if "reference" in scores else scores
    own = own[own["category"] != "speed"] if "category" in own else own
    goals = dict(zip(own["score"], own["goal"], strict=False))
    names = list(dict.fromkeys(own["score"]))[:MAX_FALLBACK_COLUMNS]
    return tuple(Facet(n, n, _ARROWS.get(goals.get(n), "")) for n in names), True


def headline_table(
    scores: pd.DataFrame, generators: list[str] | None = None, references: Iterable[str] | None = None,
    facets: tuple[Facet, ...] = FACETS,
) -> pd.DataFrame:
    """Long form: one row per (dataset, generator, facet) with mean, 95% half-width, n, role and
    ``best``. ``scores``: the long scores table (speed rows included for the sampling time)."""
    cols = ["dataset", "generator", "role", "facet", "score", "mean", "ci95", "n", "best"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    refs = set(reference_generators(scores["generator"].unique()) if references is None else references)
    rows = []
    for dataset, sub in scores.groupby("dataset", sort=False):
        gens = list(dict.fromkeys(generators or [])) + sorted(set(sub["generator"]) - set(generators or []))
        gens = [g for g in gens if g in set(sub["generator"])]
        order = [g for g in gens if g not in refs] + [g for g in gens if g in refs]
        for f in facets:
            part = sub[sub["score"] == f.score]
            if part.empty:
                continue
            verdict = rank_long(sub, f.score, refs, block=["seed"])
            best = set(verdict.best) if verdict is not None else set()
            for g in order:
                vals = pd.to_numeric(part.loc[part["generator"] == g, "value"], errors="coerce").to_numpy(float)
                mean, _, half, n = t_interval(vals - f.shift)
                rows.append({"dataset": dataset, "generator": g, "role": "reference" if g in refs else "contestant",
                             "facet": f.title, "score": f.score, "mean": mean, "ci95": half, "n": n,
                             "best": g in best})
            if f.reference is not None:
                ref = sub[sub["score"] == f.reference]
                # one value per seed: the reference is the same for every generator of a split
                per_seed = pd.to_numeric(ref["value"], errors="coerce").groupby(ref["seed"]).median()
                mean, _, half, n = t_interval(per_seed.to_numpy(float))
                rows.append({"dataset": dataset, "generator": REAL_ROW, "role": "real", "facet": f.title,
                             "score": f.reference, "mean": mean, "ci95": half, "n": n, "best": False})
    return pd.DataFrame(rows, columns=cols)


def headline_markdown(
    scores: pd.DataFrame, generators: list[str] | None = None, references: Iterable[str] | None = None,
    facets: tuple[Facet, ...] = FACETS, max_rows: int = MAX_ROWS, schedules: dict | None = None,
    caption: str = "",
) -> str:
    """The headline table in Markdown, one block per dataset, at most ``max_rows`` rows each
    (contestants first; the rows cut are named below the table). ``schedules``: the run's
    (dataset, generator) -> schedule fractions (bench.schedules.schedule_fractions), for the ‡
    marks; ``caption``: the run's caption (preset, seeds, data), after the legend."""
    schedules = schedules or {}
    facets, fallback = run_facets(scores, facets)
    table = headline_table(scores, generators, references, facets)
    out = []
    if fallback and facets:
        out += ["(This run computed none of the headline's scores; the columns are its own first scores.)", ""]
    for dataset, sub in table.groupby("dataset", sort=False):
        shown = [f for f in facets if f.title in set(sub["facet"])]
        out += [f"## {dataset}: headline", "",
                "| generator | " + " | ".join(f"{f.title} {f.arrow}" for f in shown) + " |",
                "|---|" + "---|" * len(shown)]
        names = list(dict.fromkeys(sub["generator"]))
        contest = [g for g in names if (sub.loc[sub["generator"] == g, "role"] == "contestant").all()]
        refs = [g for g in names if (sub.loc[sub["generator"] == g, "role"] == "reference").all()]
        real = [g for g in names if g == REAL_ROW]
        # the references and the real-data row always show; contestants beyond the budget are cut
        budget = max_rows - len(real) - (1 if refs or real else 0)
        keep_refs = refs[: max(0, budget)]
        keep_contest = contest[: max(0, budget - len(keep_refs))]
        cut = [g for g in contest + refs if g not in keep_contest + keep_refs]
        cells = {(r.generator, r.facet): r for r in sub.itertuples()}

        out += [_line(cells, shown, g, schedule_label(g, dataset, schedules)) for g in keep_contest]
        if keep_refs or real:
            out.append(f"| *references {REF_MARK} (not ranked)* |" + " |" * len(shown))
        out += [_line(cells, shown, g, f"{schedule_label(g, dataset, schedules)} {REF_MARK}") for g in keep_refs]
        out += [_line(cells, shown, g, f"*{g}*") for g in real]
        out.append("")
        marks = footnotes(schedules, dataset, keep_contest + keep_refs)
        for note in marks:  # a paragraph each, so Markdown keeps them on their own lines
            out += [note, ""]
        if cut:
            out += [f"({len(cut)} more generator(s) in the full tables: {', '.join(cut)})", ""]
    # the run's caption says what a cell holds and what bold means; without one the legend does
    cells = "" if caption else f"Mean ± 95% t interval over seeds; {BOLD_RULE}. "
    out.append(
        f"{cells}Arrows: ↑/↓ better up to the ideal "
        "named (no credit beyond it: an attack AUROC below 0.5 counts as 0.5), → closer to the real "
        "reference. MIA: distance-to-closest-record membership inference; AIA: attribute inference, "
        "gain over held-out patients."
    )
    if caption:
        out += ["", caption]
    return "\n".join(out).strip() + "\n"


def _line(cells: dict, shown: list[Facet], g: str, label: str) -> str:
    row = []
    for f in shown:
        r = cells.get((g, f.title))
        text = "" if r is None else fmt_cell(r.mean, r.ci95, r.n)
        row.append(f"**{text}**" if r is not None and r.best else text)
    return f"| {label} | " + " | ".join(row) + " |"


def facet_scores(facets: tuple[Facet, ...] = FACETS) -> list[str]:
    """The scores the headline needs (for a run's metric selection)."""
    return list(dict.fromkeys([f.score for f in facets] + [f.reference for f in facets if f.reference]))
