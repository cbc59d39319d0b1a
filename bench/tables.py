"""Leaderboards in Markdown, CSV and LaTeX (booktabs): one table per dataset and metric, one row
per generator, one column per score.

Every cell is the mean over blocks (seeds, each with its own split) with its 95% t interval
(``mean ± half-width``). Who is bolded comes from :func:`bench.ranking.rank_score` only (the
leading group, when a paired test over seeds resolves it). Reference generators stand apart in
their own block of rows at the bottom, marked †, never bolded; reference scores (TRTR, the
held-out baselines) are columns marked "(ref.)" and never ranked. A generator trained on less than
its published schedule (``diag_schedule_fraction`` of its jobs below 1, bench.schedules) is marked
‡ with a footnote saying how much it ran.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from bench.ranking import parse_ideal, rank_long, reference_generators, shown_values
from bench.schedules import LATEX_SCHEDULE_MARK, SCHEDULE_MARK, footnotes, mean_fraction, schedule_fractions
from bench.schedules import label as schedule_label

CATEGORY_ORDER = ["fidelity", "utility", "clinical", "privacy", "speed"]
ARROWS = {"maximize": "↑", "minimize": "↓", "target": "→"}
LATEX_ARROWS = {"maximize": r"$\uparrow$", "minimize": r"$\downarrow$", "target": r"$\rightarrow$"}
REF_MARK = "†"
# the bolding rule in one line (bench.ranking.rank_score), for every legend and caption
BOLD_RULE = ("contestants ordered by mean rank over blocks; bold: the leading set, i.e. the leader and every "
             "contestant that a two-sided paired t-test over blocks, Holm-corrected across all pairs of "
             "contestants (alpha 0.05), cannot separate from it, closed downward in merit (none when that is the "
             "whole field); a contestant missing a block is shown n/a and never ranked; reference generators "
             "are never ranked")
# what a cell holds, in one line, for every legend and caption
CELL_RULE = ("Cells: mean ± 95% t-interval half-width over seeds of what is ranked (a score with an ideal is "
             "clipped at it: no credit beyond; a target score → x shows its distance to x)")
SUMMARY_COLUMNS = ["dataset", "category", "metric", "score", "goal", "ideal", "reference", "generator",
                   "ref_generator", "mean", "std", "ci95", "ci_low", "ci_high", "n", "n_missing", "shown",
                   "shown_mean", "shown_ci95", "distance", "rank", "position", "best", "p_value", "failed",
                   "n_blocks", "note"]


def t_interval(vals: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, standard deviation, and the 95% t interval's half-width over blocks (nan below 2)."""
    vals = np.asarray(vals, dtype=float)
    vals = vals[~np.isnan(vals)]
    n = vals.size
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    std = float(vals.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    return float(vals.mean()), std, half, n


def summarize(
    scores: pd.DataFrame, generators: list[str] | None = None, references: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per (dataset, category, metric, generator): the raw mean, std and 95% t interval
    over blocks; what the cell shows (``shown_*``: the ranked quantity in the score's units, see
    :func:`bench.ranking.shown_values`); and the verdict of :func:`bench.ranking.rank_score` over
    the dataset's seeds: mean distance to the goal, mean rank over blocks (``rank``), place in the
    order of merit (``position``), ``best`` (bolded), the Holm-adjusted p against the leader
    (``p_value``), and ``failed`` (blocks without a value, of ``n_blocks``: an incomplete
    contestant is never ranked).

    ``references``: the labels of reference generators; None finds them from the generator
    registry (:func:`bench.ranking.reference_generators`).
    """
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    refs = set(reference_generators(scores["generator"].unique()) if references is None else references)
    rows = []
    keys = ["dataset", "category", "metric", "score", "goal", "generator"]
    for key, g in scores.groupby(keys, sort=False, dropna=False):
        vals = pd.to_numeric(g["value"], errors="coerce").to_numpy(dtype=float)
        mean, std, half, n = t_interval(vals)
        notes = sorted({x for x in g["note"].fillna("") if x})
        rows.append(dict(zip(keys, key, strict=True)) | {
            "ideal": parse_ideal(g["ideal"].iloc[0]),
            "reference": bool(g["reference"].iloc[0]),
            "ref_generator": key[-1] in refs,
            "mean": mean, "std": std, "ci95": half,
            "ci_low": mean - half if n > 1 else float("nan"),
            "ci_high": mean + half if n > 1 else float("nan"),
            "n": n, "n_missing": int(len(g) - n), "note": "; ".join(notes),
        })
    out = pd.DataFrame(rows)
    for col, fill in (("shown_mean", np.nan), ("shown_ci95", np.nan), ("shown", "value"), ("distance", np.nan),
                      ("rank", np.nan), ("position", np.nan), ("best", False), ("p_value", np.nan),
                      ("failed", 0), ("n_blocks", 0)):
        out[col] = fill
    for dataset, sub in scores.groupby("dataset", sort=False):
        for metric in dict.fromkeys(sub["score"]):
            at = (out["dataset"] == dataset) & (out["score"] == metric)
            gen = out.loc[at, "generator"]
            shown, kind = shown_values(sub, metric, block=["seed"])
            cell = {g: t_interval(shown[g].to_numpy(float)) for g in shown.columns}
            out.loc[at, "shown_mean"] = gen.map({g: c[0] for g, c in cell.items()}).to_numpy()
            out.loc[at, "shown_ci95"] = gen.map({g: c[2] for g, c in cell.items()}).to_numpy()
            out.loc[at, "shown"] = kind
            verdict = rank_long(sub, metric, refs, block=["seed"])
            if verdict is None:
                continue
            out.loc[at, "distance"] = gen.map(verdict.mean_distance).to_numpy()
            out.loc[at, "rank"] = gen.map(verdict.rank).to_numpy()
            out.loc[at, "position"] = gen.map(verdict.position).to_numpy()
            out.loc[at, "best"] = gen.isin(verdict.best).to_numpy()
            out.loc[at, "p_value"] = gen.map(verdict.p_adjusted).to_numpy()
            out.loc[at, "failed"] = gen.map({g: k for g, (k, _) in verdict.incomplete.items()}).fillna(0).to_numpy()
            out.loc[at, "n_blocks"] = verdict.n_blocks
    order = {g: i for i, g in enumerate(generators or [])}
    out["_c"] = out["category"].map(lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    out["_r"] = out["ref_generator"].astype(int)  # references after every contestant
    out["_g"] = out["generator"].map(lambda g: order.get(g, len(order)))
    out = out.sort_values(["dataset", "_c", "metric", "score", "_r", "_g"], kind="stable")
    return out.drop(columns=["_c", "_r", "_g"])[SUMMARY_COLUMNS].reset_index(drop=True)


def cell_text(r) -> str:
    """A summary row's cell: what is ranked (``shown_mean`` ± its 95% half-width), or
    ``n/a (k of n failed)`` for a contestant missing blocks of the score."""
    failed = int(getattr(r, "failed", 0) or 0)
    if failed and not bool(getattr(r, "ref_generator", False)):
        return f"n/a ({failed} of {int(r.n_blocks)} failed)"
    mean = getattr(r, "shown_mean", r.mean)
    half = getattr(r, "shown_ci95", r.ci95)
    return fmt_cell(mean, half, r.n)


def fmt_cell(mean: float, half: float, n: int) -> str:
    """``mean ± half-width`` of the 95% interval (the mean alone for one block)."""
    if n == 0 or mean is None or math.isnan(mean):
        return "n/a"
    show_half = n > 1 and half is not None and not math.isnan(half)
    if mean != 0 and abs(mean) < 0.01:  # small scores (distances, MMD) keep 3 significant digits
        return f"{mean:.2e}" + (f" ± {half:.1e}" if show_half else "")
    digits = 3 if abs(mean) < 1000 else 0
    return f"{mean:.{digits}f}" + (f" ± {half:.{digits}f}" if show_half else "")


def _family_blocks(summary: pd.DataFrame):
    """(dataset, category, family, its rows) in the summary's order."""
    for dataset in dict.fromkeys(summary["dataset"]):
        sub = summary[summary["dataset"] == dataset]
        for (cat, fam), g in sub.groupby(["category", "metric"], sort=False):
            yield dataset, cat, fam, g


def _generator_order(g: pd.DataFrame) -> tuple[list[str], list[str]]:
    gens = list(dict.fromkeys(g["generator"]))
    refs = set(g.loc[g["ref_generator"].astype(bool), "generator"])
    return [x for x in gens if x not in refs], [x for x in gens if x in refs]


def _score_header(g: pd.DataFrame, metric: str, arrows: dict[str, str], esc=lambda s: s) -> str:
    """The column's name and arrow; a target score's cells are its distance to the ideal, so its
    header says so (``distance to x ↓``; no bar, which would split a Markdown cell)."""
    row = g[g["score"] == metric].iloc[0]
    if row["goal"] == "target" and not row["reference"]:
        return f"{esc(metric)}, distance to {esc(str(row['ideal']))} {arrows['minimize']}"
    return f"{esc(metric)} {arrows.get(row['goal'], '')}" + (" (ref.)" if row["reference"] else "")


def leaderboard_markdown(summary: pd.DataFrame, jobs: pd.DataFrame | None = None, caption: str = "",
                         schedules: dict | None = None, basis: dict[str, str] | None = None) -> str:
    """The per-score tables in Markdown, one block per dataset and metric. ``jobs`` (jobs.csv) adds
    the failed jobs under each dataset and, unless ``schedules`` (bench.schedules.schedule_fractions)
    is given, the truncated-schedule marks."""
    schedules = schedule_fractions(jobs) if schedules is None else schedules
    out: list[str] = []
    last_dataset = None
    for dataset, cat, fam, g in _family_blocks(summary):
        if dataset != last_dataset:
            if last_dataset is not None:
                out += _footer(summary, jobs, last_dataset, schedules, basis)
            out.append(f"## {dataset}\n")
            last_dataset = dataset
        metrics = list(dict.fromkeys(g["score"]))
        contestants, refs = _generator_order(g)
        out.append(f"### {cat}: {fam}\n")
        out.append("| generator | " + " | ".join(_score_header(g, m, ARROWS) for m in metrics) + " |")
        out.append("|---|" + "---|" * len(metrics))
        cells = {(r.generator, r.score): r for r in g.itertuples()}
        for gen in contestants + refs:
            if gen == (refs[0] if refs else None):
                out.append(f"| *reference generators {REF_MARK} (not ranked)* |" + " |" * len(metrics))
            row = []
            for m in metrics:
                r = cells.get((gen, m))
                text = "" if r is None else cell_text(r)
                row.append(f"**{text}**" if r is not None and r.best else text)
            name = schedule_label(gen, dataset, schedules) + (f" {REF_MARK}" if gen in refs else "")
            out.append(f"| {name} | " + " | ".join(row) + " |")
        out.append("")
    if last_dataset is not None:
        out += _footer(summary, jobs, last_dataset, schedules, basis)
    # the run's caption says what a cell holds and what bold means; without one the legend does
    cells = "" if caption else f"{CELL_RULE}. {BOLD_RULE[0].upper()}{BOLD_RULE[1:]}. "
    legend = (
        f"{cells}↑ higher is better, ↓ lower is better (up to the ideal: no credit beyond it), → closer to the "
        f"ideal is better. (ref.): real-data reference score, never ranked. {REF_MARK}: reference generator."
    )
    if any(fr[0] < 1.0 - 1e-9 for fr in schedules.values()):
        legend += f" {SCHEDULE_MARK}: trained on less than its published schedule (footnote under the dataset)."
    return "\n".join(out + [legend, "", caption, ""]).strip() + "\n"


def _footer(summary: pd.DataFrame, jobs: pd.DataFrame | None, dataset: str, schedules: dict,
            basis: dict[str, str] | None = None) -> list[str]:
    out = []
    if jobs is not None and not jobs.empty:
        failed = jobs[(jobs["dataset"] == dataset) & (jobs["status"] != "ok")]
        for r in failed.itertuples():
            out.append(f"- job {r.generator} seed {r.seed} failed: {r.error}")
        if len(failed):
            out.append("")
    sub = summary[summary["dataset"] == dataset]
    marks = footnotes(schedules, dataset, list(dict.fromkeys(sub["generator"])), basis=basis)
    for note in marks:  # a paragraph each, so Markdown keeps them on their own lines
        out += [note, ""]
    notes = sub[sub["note"].fillna("") != ""][["generator", "score", "note"]].drop_duplicates()
    for r in notes.itertuples():
        out.append(f"- {r.generator} / {r.score}: {r.note}")
    if len(notes):
        out.append("")
    return out


def leaderboard_csv(summary: pd.DataFrame, schedules: dict | None = None) -> pd.DataFrame:
    """The long table, references set apart: ``role`` says contestant or reference, and within each
    (dataset, metric) the reference generators' rows come last. ``schedule_fraction``: the share
    of its published schedule the generator ran (empty when it reports none); ``truncated``: below 1."""
    out = summary[["dataset", "category", "score", "goal", "ideal", "reference", "generator", "ref_generator",
                   "mean", "std", "ci95", "ci_low", "ci_high", "n", "shown", "shown_mean", "shown_ci95", "distance",
                   "rank", "position", "best", "p_value", "failed", "n_blocks", "note"]].copy()
    out.insert(out.columns.get_loc("generator") + 1, "role",
               np.where(out["ref_generator"].astype(bool), "reference", "contestant"))
    schedules = schedules or {}
    frac = [mean_fraction(schedules, d, g) for d, g in zip(out["dataset"], out["generator"], strict=True)]
    lows = [schedules.get((d, g), (np.nan, np.nan))[0] for d, g in zip(out["dataset"], out["generator"], strict=True)]
    out.insert(out.columns.get_loc("role") + 1, "schedule_fraction", frac)
    out.insert(out.columns.get_loc("schedule_fraction") + 1, "truncated", np.asarray(lows, dtype=float) < 1.0 - 1e-9)
    return out.drop(columns="ref_generator")


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "†": r"$\dagger$", "‡": r"$\ddagger$", "–": r"\textendash{}", "→": r"$\rightarrow$"}


def _tex_escape(s: str) -> str:
    """Text for LaTeX: specials escaped, the marks and ± in math mode, ``--`` kept as two hyphens."""
    return re.sub(r"-(?=-)", "-{}", "".join(_TEX.get(c, c) for c in str(s)))


def leaderboard_latex(summary: pd.DataFrame, caption: str = "", schedules: dict | None = None,
                      basis: dict[str, str] | None = None) -> str:
    """One booktabs table per dataset and metric; truncated schedules marked $\\ddagger$ with their
    footnote in the table's caption."""
    schedules = schedules or {}
    blocks = []
    for dataset, cat, fam, g in _family_blocks(summary):
        metrics = list(dict.fromkeys(g["score"]))
        contestants, refs = _generator_order(g)
        width = len(metrics) + 1
        lines = [
            r"\begin{table}[t]", r"\centering", r"\small",
            r"\begin{tabular}{l" + "c" * len(metrics) + "}", r"\toprule",
            "Generator & " + " & ".join(_score_header(g, m, LATEX_ARROWS, _tex_escape) for m in metrics) + r" \\",
            r"\midrule",
        ]
        cells = {(r.generator, r.score): r for r in g.itertuples()}
        for gen in contestants + refs:
            if gen == (refs[0] if refs else None):
                lines += [r"\midrule", rf"\multicolumn{{{width}}}{{l}}{{\emph{{Reference generators "
                                       rf"($\dagger$), not ranked}}}} \\"]
            row = []
            for m in metrics:
                r = cells.get((gen, m))
                text = "" if r is None else cell_text(r).replace("±", r"$\pm$")
                row.append(rf"\textbf{{{text}}}" if r is not None and r.best else text)
            name = _tex_escape(gen) + (f" {LATEX_SCHEDULE_MARK}" if schedule_label(gen, dataset, schedules) != gen
                                       else "") + (r" $\dagger$" if gen in refs else "")
            lines.append(f"{name} & " + " & ".join(row) + r" \\")
        cut = " ".join(_tex_escape(f.removeprefix(SCHEDULE_MARK + " ")) + "."
                       for f in footnotes(schedules, dataset, contestants + refs, basis=basis))
        cut = f" {LATEX_SCHEDULE_MARK} {cut}" if cut else ""
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{_tex_escape(dataset)}, {_tex_escape(cat)}: {_tex_escape(fam)}. "
                  + (rf"{cut.lstrip()} {_tex_escape(caption)}}}" if caption else
                   rf"Mean $\pm$ 95\% t interval over seeds; {_tex_escape(BOLD_RULE)}; $\dagger$ reference "
                   rf"generator.{cut}}}"),
                  rf"\label{{tab:ehrbench-{_tex_escape(dataset)}-{_tex_escape(fam)}}}", r"\end{table}", ""]
        blocks.append("\n".join(lines))
    return "% requires \\usepackage{booktabs}\n" + "\n".join(blocks)
