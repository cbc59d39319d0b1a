"""Leaderboards: mean ± std over seeds, the best generator per score marked, in Markdown, CSV and
LaTeX (booktabs), one block per dataset and category.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CATEGORY_ORDER = ["fidelity", "utility", "privacy", "speed"]
ARROWS = {"maximize": "↑", "minimize": "↓", "target": "→"}
LATEX_ARROWS = {"maximize": r"$\uparrow$", "minimize": r"$\downarrow$", "target": r"$\rightarrow$"}


def summarize(scores: pd.DataFrame, generators: list[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, category, metric, generator): mean, std, 95% interval, count, best."""
    cols = ["dataset", "category", "metric", "score", "goal", "ideal", "reference", "generator",
            "mean", "std", "ci95", "n", "n_missing", "best", "note"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    from scipy import stats

    rows = []
    keys = ["dataset", "category", "metric", "score", "goal", "generator"]
    for key, g in scores.groupby(keys, sort=False, dropna=False):
        vals = pd.to_numeric(g["value"], errors="coerce").dropna().to_numpy(dtype=float)
        n = len(vals)
        std = float(vals.std(ddof=1)) if n > 1 else float("nan")
        ci = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
        notes = sorted({x for x in g["note"].fillna("") if x})
        ideal = g["ideal"].iloc[0]
        rows.append(dict(zip(keys, key, strict=True)) | {
            "ideal": None if pd.isna(ideal) else float(ideal),
            "reference": bool(g["reference"].iloc[0]),
            "mean": float(vals.mean()) if n else float("nan"),
            "std": std, "ci95": ci, "n": n, "n_missing": int(len(g) - n),
            "note": "; ".join(notes),
        })
    out = pd.DataFrame(rows)
    out["best"] = False
    for _, idx in out.groupby(["dataset", "score"]).groups.items():
        sub = out.loc[idx]
        if sub["reference"].iloc[0] or len(sub) < 2:
            continue
        target = _distance_to_goal(sub)
        if target.notna().any():
            best = target.min()
            out.loc[target[np.isclose(target, best, rtol=0, atol=1e-12)].index, "best"] = True
    order = {g: i for i, g in enumerate(generators or [])}
    out["_c"] = out["category"].map(lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    out["_g"] = out["generator"].map(lambda g: order.get(g, len(order)))
    out = out.sort_values(["dataset", "_c", "metric", "score", "_g"], kind="stable")
    return out.drop(columns=["_c", "_g"])[cols].reset_index(drop=True)


def _distance_to_goal(sub: pd.DataFrame) -> pd.Series:
    goal = sub["goal"].iloc[0]
    if goal == "maximize":
        return -sub["mean"]
    if goal == "minimize":
        return sub["mean"]
    ideal = sub["ideal"].iloc[0]
    return (sub["mean"] - (0.0 if ideal is None or pd.isna(ideal) else ideal)).abs()


def _fmt(mean: float, std: float, n: int) -> str:
    if n == 0 or math.isnan(mean):
        return "n/a"
    if mean != 0 and abs(mean) < 0.01:  # small scores (distances, MMD) keep 3 significant digits
        text = f"{mean:.2e}"
        return text + (f" ± {std:.1e}" if n > 1 and not math.isnan(std) else "")
    digits = 3 if abs(mean) < 1000 else 0
    text = f"{mean:.{digits}f}"
    if n > 1 and not math.isnan(std):
        text += f" ± {std:.{digits}f}"
    return text


def _pivot(summary: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    sub = summary[summary["dataset"] == dataset]
    gens = list(dict.fromkeys(sub["generator"]))
    return sub, gens


def leaderboard_markdown(summary: pd.DataFrame, jobs: pd.DataFrame | None = None, caption: str = "") -> str:
    out = []
    for dataset in dict.fromkeys(summary["dataset"]):
        sub, gens = _pivot(summary, dataset)
        out.append(f"## {dataset}\n")
        header = "| category | metric | " + " | ".join(gens) + " |"
        out += [header, "|" + "---|" * (len(gens) + 2)]
        for (cat, metric), g in sub.groupby(["category", "score"], sort=False):
            goal = g["goal"].iloc[0]
            name = f"{metric} {ARROWS.get(goal, '')}" + (" (ref.)" if g["reference"].iloc[0] else "")
            cells = []
            by_gen = {r.generator: r for r in g.itertuples()}
            for gen in gens:
                r = by_gen.get(gen)
                if r is None:
                    cells.append("")
                    continue
                cell = _fmt(r.mean, r.std, r.n)
                cells.append(f"**{cell}**" if r.best else cell)
            out.append(f"| {cat} | {name} | " + " | ".join(cells) + " |")
        out.append("")
        if jobs is not None and not jobs.empty:
            failed = jobs[(jobs["dataset"] == dataset) & (jobs["status"] != "ok")]
            for r in failed.itertuples():
                out.append(f"- job {r.generator} seed {r.seed} failed: {r.error}")
            if len(failed):
                out.append("")
        notes = sub[sub["note"] != ""][["generator", "score", "note"]].drop_duplicates()
        for r in notes.itertuples():
            out.append(f"- {r.generator} / {r.score}: {r.note}")
        if len(notes):
            out.append("")
    legend = "↑ higher is better, ↓ lower is better, → closer to the ideal is better; **bold**: best; (ref.): real-data reference."
    return "\n".join(out + [legend, "", caption, ""]).strip() + "\n"


def leaderboard_csv(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[["dataset", "category", "score", "goal", "reference", "generator", "mean", "std",
                    "ci95", "n", "best", "note"]]


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_escape(s: str) -> str:
    return "".join(_TEX.get(c, c) for c in s)


def leaderboard_latex(summary: pd.DataFrame, caption: str = "") -> str:
    blocks = []
    for dataset in dict.fromkeys(summary["dataset"]):
        sub, gens = _pivot(summary, dataset)
        lines = [
            r"\begin{table}[t]", r"\centering", r"\small",
            r"\begin{tabular}{ll" + "c" * len(gens) + "}", r"\toprule",
            "Category & Metric & " + " & ".join(_tex_escape(g) for g in gens) + r" \\", r"\midrule",
        ]
        last_cat = None
        for (cat, metric), g in sub.groupby(["category", "score"], sort=False):
            if last_cat is not None and cat != last_cat:
                lines.append(r"\midrule")
            goal = g["goal"].iloc[0]
            by_gen = {r.generator: r for r in g.itertuples()}
            cells = []
            for gen in gens:
                r = by_gen.get(gen)
                cell = "" if r is None else _fmt(r.mean, r.std, r.n).replace("±", r"$\pm$")
                cells.append(rf"\textbf{{{cell}}}" if r is not None and r.best else cell)
            label = _tex_escape(metric) + " " + LATEX_ARROWS.get(goal, "")
            lines.append(f"{cat if cat != last_cat else ''} & {label} & " + " & ".join(cells) + r" \\")
            last_cat = cat
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{_tex_escape(dataset)}: {_tex_escape(caption)}}}",
                  rf"\label{{tab:ehrbench-{_tex_escape(dataset)}}}", r"\end{table}", ""]
        blocks.append("\n".join(lines))
    return "% requires \\usepackage{booktabs}\n" + "\n".join(blocks)
