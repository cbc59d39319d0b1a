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

from bench.ranking import parse_ideal, rank_long, reference_generators
from bench.schedules import LATEX_SCHEDULE_MARK, SCHEDULE_MARK, footnotes, mean_fraction, schedule_fractions
from bench.schedules import label as schedule_label

CATEGORY_ORDER = ["fidelity", "utility", "clinical", "privacy", "speed"]
ARROWS = {"maximize": "↑", "minimize": "↓", "target": "→"}
LATEX_ARROWS = {"maximize": r"$\uparrow$", "minimize": r"$\downarrow$", "target": r"$\rightarrow$"}
REF_MARK = "†"
# the bolding rule in one line (bench.ranking.rank_score), for every legend and caption
BOLD_RULE = ("bold: the best contestant and every contestant a two-sided paired t-test over seeds (alpha 0.05) "
             "cannot separate from it (tied leaders all bold; none when no contestant is separated); reference "
             "generators are never ranked")
SUMMARY_COLUMNS = ["dataset", "category", "metric", "score", "goal", "ideal", "reference", "generator",
                   "ref_generator", "mean", "std", "ci95", "ci_low", "ci_high", "n", "n_missing", "distance",
                   "rank", "best", "p_value", "note"]


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
    """One row per (dataset, category, metric, generator): mean, std, 95% t interval, count, and the
    verdict of :func:`bench.ranking.rank_score` over the dataset's seeds (distance to the goal,
    rank among contestants, ``best`` = bolded, p-value of leader vs runner-up).

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
    out["distance"], out["rank"], out["best"], out["p_value"] = np.nan, np.nan, False, np.nan
    for dataset, sub in scores.groupby("dataset", sort=False):
        for metric in dict.fromkeys(sub["score"]):
            verdict = rank_long(sub, metric, refs, block=["seed"])
            if verdict is None:
                continue
            at = (out["dataset"] == dataset) & (out["score"] == metric)
            gen = out.loc[at, "generator"]
            out.loc[at, "distance"] = gen.map(verdict.mean_distance).to_numpy()
            out.loc[at, "rank"] = gen.map(verdict.rank).to_numpy()
            out.loc[at, "best"] = gen.isin(verdict.best).to_numpy()
            out.loc[at, "p_value"] = verdict.p_value
    order = {g: i for i, g in enumerate(generators or [])}
    out["_c"] = out["category"].map(lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    out["_r"] = out["ref_generator"].astype(int)  # references after every contestant
    out["_g"] = out["generator"].map(lambda g: order.get(g, len(order)))
    out = out.sort_values(["dataset", "_c", "metric", "score", "_r", "_g"], kind="stable")
    return out.drop(columns=["_c", "_r", "_g"])[SUMMARY_COLUMNS].reset_index(drop=True)


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
    row = g[g["score"] == metric].iloc[0]
    return f"{esc(metric)} {arrows.get(row['goal'], '')}" + (" (ref.)" if row["reference"] else "")


def leaderboard_markdown(summary: pd.DataFrame, jobs: pd.DataFrame | None = None, caption: str = "",
                         schedules: dict | None = None) -> str:
    """The per-score tables in Markdown, one block per dataset and metric. ``jobs`` (jobs.csv) adds
    the failed jobs under each dataset and, unless ``schedules`` (bench.schedules.schedule_fractions)
    is given, the truncated-schedule marks."""
    schedules = schedule_fractions(jobs) if schedules is None else schedules
    out: list[str] = []
    last_dataset = None
    for dataset, cat, fam, g in _family_blocks(summary):
        if dataset != last_dataset:
            if last_dataset is not None:
                out += _footer(summary, jobs, last_dataset, schedules)
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
                text = "" if r is None else fmt_cell(r.mean, r.ci95, r.n)
                row.append(f"**{text}**" if r is not None and r.best else text)
            name = schedule_label(gen, dataset, schedules) + (f" {REF_MARK}" if gen in refs else "")
            out.append(f"| {name} | " + " | ".join(row) + " |")
        out.append("")
    if last_dataset is not None:
        out += _footer(summary, jobs, last_dataset, schedules)
    # the run's caption says what a cell holds and what bold means; without one the legend does
    cells = "" if caption else f"Cells: mean ± half-width of the 95% t interval over seeds. **Bold**{BOLD_RULE[4:]}. "
    legend = (
        f"{cells}↑ higher is better, ↓ lower is better (up to the ideal: no credit beyond it), → closer to the "
        f"ideal is better. (ref.): real-data reference score, never ranked. {REF_MARK}: reference generator."
    )
    if any(fr[0] < 1.0 - 1e-9 for fr in schedules.values()):
        legend += f" {SCHEDULE_MARK}: trained on less than its published schedule (footnote under the dataset)."
    return "\n".join(out + [legend, "", caption, ""]).strip() + "\n"


def _footer(summary: pd.DataFrame, jobs: pd.DataFrame | None, dataset: str, schedules: dict) -> list[str]:
    out = []
    if jobs is not None and not jobs.empty:
        failed = jobs[(jobs["dataset"] == dataset) & (jobs["status"] != "ok")]
        for r in failed.itertuples():
            out.append(f"- job {r.generator} seed {r.seed} failed: {r.error}")
        if len(failed):
            out.append("")
    sub = summary[summary["dataset"] == dataset]
    marks = footnotes(schedules, dataset, list(dict.fromkeys(sub["generator"])))
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
                   "mean", "std", "ci95", "ci_low", "ci_high", "n", "distance", "rank", "best", "p_value",
                   "note"]].copy()
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


def leaderboard_latex(summary: pd.DataFrame, caption: str = "", schedules: dict | None = None) -> str:
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
                text = "" if r is None else fmt_cell(r.mean, r.ci95, r.n).replace("±", r"$\pm$")
                row.append(rf"\textbf{{{text}}}" if r is not None and r.best else text)
            name = _tex_escape(gen) + (f" {LATEX_SCHEDULE_MARK}" if schedule_label(gen, dataset, schedules) != gen
                                       else "") + (r" $\dagger$" if gen in refs else "")
            lines.append(f"{name} & " + " & ".join(row) + r" \\")
        cut = " ".join(_tex_escape(f.removeprefix(SCHEDULE_MARK + " ")) + "."
                       for f in footnotes(schedules, dataset, contestants + refs))
        cut = f" {LATEX_SCHEDULE_MARK} {cut}" if cut else ""
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{_tex_escape(dataset)}, {_tex_escape(cat)}: {_tex_escape(fam)}. "
                  + (rf"{cut.lstrip()} {_tex_escape(caption)}}}" if caption else
                   rf"Mean $\pm$ 95\% t interval over seeds; {_tex_escape(BOLD_RULE)}; $\dagger$ reference "
                   rf"generator.{cut}}}"),
                  rf"\label{{tab:ehrbench-{_tex_escape(dataset)}-{_tex_escape(fam)}}}", r"\end{table}", ""]
        blocks.append("\n".join(lines))
    return "% requires \\usepackage{booktabs}\n" + "\n".join(blocks)
