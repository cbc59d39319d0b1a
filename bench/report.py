"""``python -m bench report RUN_DIR``: the tables and figures a paper needs, from a finished run.

Everything here reads the run directory only (job records, loss curves, per-code prevalence
profiles), so a report can be rebuilt at any time without retraining anything.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bench.budgets import budget_of
from bench.core.errors import OptionError
from bench.core.io import read_json, write_csv, write_text
from bench.headline import FACETS
from bench.results import caption as run_caption
from bench.results import (
    declared_departures,
    has_records,
    load_tables,
    run_references,
    schedule_bases,
    write_leaderboards,
    write_tables,
)
from bench.schedules import footnotes, schedule_fractions
from bench.schedules import label as schedule_label
from bench.tables import CATEGORY_ORDER


def check_run_dir(run_dir: Path) -> None:
    """A run directory (job records) or a rendered one (the committed leaderboard: its manifest and
    per-block scores.csv); anything else is an error naming the folder."""
    if not run_dir.is_dir():
        raise OptionError(f"run directory {run_dir} does not exist")
    if not (run_dir / "manifest.json").is_file():
        raise OptionError(f"{run_dir} is not a run directory (no manifest.json)")
    if not has_records(run_dir) and not (run_dir / "scores.csv").is_file():
        raise OptionError(f"{run_dir} holds no finished job yet (no jobs/*.json and no scores.csv)")


def load_weights(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Use-case weights: {use case: {score name: weight}} (and an optional description)."""
    try:
        if path is None:
            text = resources.files("bench").joinpath("data/usecases.toml").read_text(encoding="utf-8")
            source = "the built-in use-case weights"
        else:
            text = Path(path).read_text(encoding="utf-8")
            source = str(path)
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise OptionError(f"weights file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise OptionError(f"weights file {source} is not valid TOML: {exc}") from None
    out: dict[str, dict[str, float]] = {}
    for case, table in raw.items():
        if not isinstance(table, dict):
            raise OptionError(f"weights file {source}: [{case}] must be a table of score = weight")
        weights = {}
        for k, v in table.items():
            if k == "description":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise OptionError(f"weights file {source}: [{case}] {k} must be a non-negative number, got {v!r}")
            weights[k] = float(v)
        out[case] = weights
    return out


def use_case_ranking(summary: pd.DataFrame, weights: dict[str, dict[str, float]],
                     references: set[str] | None = None) -> pd.DataFrame:
    """Weight the contestants' per-score ranks per use case (Yan et al., 2022).

    The per-score ranks are :func:`bench.ranking.rank_score`'s mean ranks over blocks (the
    summary's ``rank`` column, 1 = best); a use case's weighted rank is their weighted mean.
    Reference generators (the summary's ``ref_generator`` and ``references``, the run's
    :func:`bench.ranking.reference_generators`) and reference scores take no part. A contestant
    missing a block of a weighted score (``failed``) is listed as incomplete, without a position.
    """
    rows = []
    refs = set(references or ())
    own = summary[~summary["reference"].astype(bool) & ~summary["ref_generator"].astype(bool)
                  & ~summary["generator"].isin(refs)]
    failed = own.assign(_f=pd.to_numeric(own.get("failed", 0), errors="coerce").fillna(0) > 0)
    for dataset, sub in own[own["rank"].notna()].groupby("dataset", sort=False):
        ranks = sub.pivot_table(index="generator", columns="score", values="rank", aggfunc="first")
        fails = failed[failed["dataset"] == dataset]
        for case, w in weights.items():
            used = {m: wt for m, wt in w.items() if m in set(own.loc[own["dataset"] == dataset, "score"]) and wt > 0}
            if not used:
                continue
            broken = set(fails.loc[fails["score"].isin(used) & fails["_f"], "generator"])
            wv = pd.Series(used)
            r = ranks.reindex(columns=list(used))
            score = (r * wv).sum(axis=1, min_count=1) / r.notna().mul(wv).sum(axis=1)
            ok = score.drop(index=[g for g in score.index if g in broken]).dropna()
            order = ok.rank(method="min")
            for gen in sorted(set(ranks.index) | broken):
                complete = gen in ok.index
                rows.append({"dataset": dataset, "use_case": case, "generator": gen,
                             "weighted_rank": float(ok[gen]) if complete else float("nan"),
                             "position": int(order[gen]) if complete else pd.NA,
                             "scores_used": len(used), "status": "ranked" if complete else "incomplete"})
    cols = ["dataset", "use_case", "generator", "weighted_rank", "position", "scores_used", "status"]
    df = pd.DataFrame(rows, columns=cols)
    df["_p"] = pd.to_numeric(df["position"], errors="coerce").fillna(1e9)
    df = df.sort_values(["dataset", "use_case", "_p", "generator"], kind="stable").drop(columns="_p")
    return df.reset_index(drop=True)


def _ranking_markdown(ranking: pd.DataFrame, weights: dict[str, dict[str, float]], references=(),
                      caption: str = "", schedules: dict | None = None, basis: dict[str, str] | None = None) -> str:
    """ranking.md: one table per (dataset, use case); truncated schedules marked ‡ (bench.schedules),
    each footnote against the generator's declared schedule basis (published or ehrbench's own)."""
    refs = sorted(references)
    schedules = schedules or {}
    out = ["# Use-case ranking", "",
           "Contestants ranked per score by their mean rank over blocks (1 = best; bench/ranking.py), those "
           "mean ranks combined with use-case weights (Yan et al., 2022). Lower weighted rank is better; a "
           "contestant missing a block of a weighted score is listed as incomplete, without a position. "
           "Reference generators (independent, real-copy and any generator declaring itself a reference) "
           "are never ranked." + (f" Not ranked in this run: {', '.join(refs)}." if refs else ""), ""]
    if ranking.empty:
        out += ["No contestant to rank: every generator of this run is a reference.", ""]
    for (dataset, case), g in ranking.groupby(["dataset", "use_case"], sort=False):
        out.append(f"## {dataset}: {case}")
        out.append("")
        out.append("| position | generator | weighted rank |")
        out.append("|---|---|---|")
        for r in g.itertuples():
            name = schedule_label(r.generator, dataset, schedules)
            if r.status == "incomplete":
                out.append(f"| incomplete | {name} | n/a (a weighted score has a failed block) |")
            else:
                out.append(f"| {r.position} | {name} | {r.weighted_rank:.2f} |")
        used = ", ".join(f"{k} x{v:g}" for k, v in weights[case].items())
        out += ["", f"weights: {used}", ""]
        for note in footnotes(schedules, dataset, list(g["generator"]), basis=basis):
            out += [note, ""]
    unknown = sorted({m for w in weights.values() for m in w} - set(ranking.attrs.get("scores", [])))
    if unknown and ranking.attrs.get("scores"):
        out.append(f"(weights naming no score of this run, ignored: {', '.join(unknown)})")
    if caption:
        out += ["", caption]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------ figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_dimwise_scatter(run_dir: Path, dataset: str, generators: list[str], path: Path) -> bool:
    """Per-code prevalence, real training vs synthetic, one panel per generator (first seed)."""
    from bench.config import job_id

    profiles = {}
    seeds = read_json(run_dir / "manifest.json").get("seeds", [0])
    for gen in generators:
        profile = run_dir / "profiles" / f"{job_id(gen, dataset, seeds[0])}.csv"
        if profile.is_file():
            profiles[gen] = pd.read_csv(profile)
    if not profiles:
        return False
    plt = _plt()
    n = len(profiles)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    top = max(float(max(p["real"].max(), p["synthetic"].max())) for p in profiles.values()) * 1.05
    for ax, (gen, p) in zip(axes.flat, profiles.items(), strict=False):
        ax.scatter(p["real"], p["synthetic"], s=8, alpha=0.6)
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
        r = np.corrcoef(p["real"], p["synthetic"])[0, 1] if p["synthetic"].std() > 0 else float("nan")
        ax.set_title(f"{gen}\nr = {r:.3f}", fontsize=9)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("real prevalence")
        ax.set_ylabel("synthetic prevalence")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"Dimension-wise probability on {dataset}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def figure_tradeoff(summary: pd.DataFrame, dataset: str, path: Path) -> bool:
    """Fidelity against privacy: one point per generator with its 95% interval as error bars; the
    contestants on the Pareto front (no other contestant both closer to the fidelity goal and to
    the privacy goal, distances of bench.ranking) are ringed and joined, references drawn hollow
    in grey: "no generator wins every use" at a glance."""
    from bench.ranking import pareto_front

    sub = summary[summary["dataset"] == dataset]
    fid_name = "detection_auroc" if "detection_auroc" in set(sub["score"]) else "dwp_pearson_r"
    fid = sub[sub["score"] == fid_name].set_index("generator")
    # the strongest attack the run computed (its excess over chance), else the DCR attack's AUROC
    priv_name = "mia_strongest" if "mia_strongest" in set(sub["score"]) else "mia_dcr_auroc"
    chance = 0.0 if priv_name == "mia_strongest" else 0.5
    priv = sub[sub["score"] == priv_name].set_index("generator")
    gens = [g for g in fid.index if g in priv.index]
    if not gens:
        return False
    refs = {g for g in gens if bool(fid.loc[g, "ref_generator"])}
    contest = [g for g in gens if g not in refs]
    dist = pd.DataFrame({"fidelity": fid.loc[contest, "distance"], "privacy": priv.loc[contest, "distance"]})
    front = pareto_front(dist) if contest else []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    colours = plt.get_cmap("tab20").colors
    markers = "osD^vP*Xh<>p"
    for i, g in enumerate(gens):  # colour and marker both vary: no two generators look alike
        is_ref = g in refs
        ax.errorbar(priv.loc[g, "mean"], fid.loc[g, "mean"],
                    xerr=np.nan_to_num(priv.loc[g, "ci95"]), yerr=np.nan_to_num(fid.loc[g, "ci95"]),
                    fmt=markers[i % len(markers)], color="grey" if is_ref else colours[i % len(colours)],
                    mfc="none" if is_ref else None, capsize=3, label=f"{g} † (reference)" if is_ref else g)
    if front:
        pts = sorted((float(priv.loc[g, "mean"]), float(fid.loc[g, "mean"])) for g in front)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="black", lw=0.8, ls=":", zorder=0)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=160, facecolors="none", edgecolors="black",
                   label="Pareto front (contestants)")
    ax.axvline(chance, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("strongest membership-inference attack, AUROC − 0.5 (0 = no leakage) ←" if chance == 0.0 else
                  "membership inference AUROC (0.5 = no leakage; below 0.5 earns nothing) ←")
    ax.set_ylabel(f"{fid_name} ({'↓ to 0.5' if fid_name == 'detection_auroc' else '↑'})")
    ax.set_title(f"Fidelity-privacy trade-off on {dataset}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def critical_difference(scores: pd.DataFrame, facets, references: set[str], path: Path) -> tuple[bool, list[str]]:
    """The critical-difference diagram over datasets for the headline's scores (bench.cd_diagram),
    and the reasons for every score it could not draw."""
    from bench.cd_diagram import across_datasets, draw

    drawn, why = [], []
    for f in facets:
        if f.score == "sample_s":
            continue  # speed measures the machine as much as the method
        fr, reason = across_datasets(scores, f.score, references)
        if fr is None:
            why.append(reason)
        else:
            drawn.append((f.score, fr))
    return draw(drawn, path), why


def departures_markdown(manifest: dict, preset: str | None) -> str:
    """The departures table: each generator's schedule basis and its declared departures from the
    published configuration (``Generator.departures``), for the run's preset."""
    deps = declared_departures(manifest)
    lines = ["| generator | schedule measured against | departures from the published configuration |",
             "|---|---|---|"]
    for name, d in sorted(deps.items()):
        basis = "its published schedule" if d.schedule == "published" else "ehrbench's own default (none published)"
        lines.append(f"| {name} | {basis} | {d.text(preset) or 'none declared'} |")
    return "\n".join(lines) + "\n"


def figure_loss_curves(run_dir: Path, path: Path) -> bool:
    files = sorted((run_dir / "curves").glob("*__s0.csv")) or sorted((run_dir / "curves").glob("*.csv"))
    if not files:
        return False
    plt = _plt()
    n = len(files)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, f in zip(axes.flat, files, strict=False):
        df = pd.read_csv(f)
        x = df["epoch"] if "epoch" in df else np.arange(len(df))
        for col in df.columns:
            if col in ("epoch", "phase", "step") or not np.issubdtype(df[col].dtype, np.number):
                continue
            ax.plot(x, df[col], label=col, lw=1)
        ax.set_title(f.stem.split("__")[0], fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def figure_sampler_study(csv: Path, path: Path) -> bool:
    if not csv.is_file():
        return False
    df = pd.read_csv(csv)
    ycol = next((c for c in ("dwp_pearson_r", "detection_auroc") if c in df.columns), None)
    if ycol is None or "nfe" not in df.columns or "sampler" not in df.columns:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for s, g in df.groupby("sampler"):
        g = g.sort_values("nfe")
        ax.plot(g["nfe"], g[ycol], marker="o", label=s)
    ax.set_xscale("log")
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel(ycol)
    ax.legend(fontsize=8)
    ax.set_title("Sampler fidelity against NFE")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------ report
def build_report(run_dir: Path, out: Path | None = None, weights_path: Path | None = None) -> Path:
    """The report of a run, into ``out`` (default: ``run_dir/report`` for a run; the folder itself
    for a rendered one, such as the committed leaderboard, which is re-rendered in place)."""
    check_run_dir(run_dir)
    weights = load_weights(weights_path)
    manifest = read_json(run_dir / "manifest.json")
    generators = list(manifest.get("generators", {}))
    records = has_records(run_dir)
    summary = write_tables(run_dir, None, generators) if records else None
    scores, jobs = load_tables(run_dir)
    references = run_references(scores, generators)
    if summary is None:
        from bench.tables import summarize

        summary = summarize(scores, generators, references)
    out = out or (run_dir / "report" if records else run_dir)
    out.mkdir(parents=True, exist_ok=True)
    caption = run_caption(run_dir) + " Cite: ehrbench (CITATION.cff) and the papers of each generator and metric."
    headline = write_leaderboards(out, scores, summary, jobs, caption, generators, references,
                                  basis=schedule_bases(manifest), budget=budget_of(manifest))
    ranking = use_case_ranking(summary, weights, references)
    ranking.attrs["scores"] = sorted(set(summary["score"]))
    write_csv(out / "ranking.csv", ranking)
    write_text(out / "ranking.md", _ranking_markdown(ranking, weights, references, caption,
                                                     schedule_fractions(jobs), schedule_bases(manifest)))
    preset = manifest.get("config", {}).get("preset")
    write_text(out / "departures.md", "# Departures from the published configurations\n\n"
               + departures_markdown(manifest, preset))
    figures = []
    for dataset in dict.fromkeys(summary["dataset"]):
        if figure_dimwise_scatter(run_dir, dataset, generators, out / f"dimwise_{dataset}.png"):
            figures.append(f"dimwise_{dataset}.png")
        if figure_tradeoff(summary, dataset, out / f"tradeoff_{dataset}.png"):
            figures.append(f"tradeoff_{dataset}.png")
    from bench.headline import run_facets

    facets, _ = run_facets(scores, FACETS)
    cd_drawn, cd_why = critical_difference(scores, facets, references, out / "critical_difference.png")
    if cd_drawn:
        figures.append("critical_difference.png")
    elif (out / "critical_difference.png").is_file():
        (out / "critical_difference.png").unlink()  # a stale diagram from an older rule must not stay
    if figure_loss_curves(run_dir, out / "loss_curves.png"):
        figures.append("loss_curves.png")
    if figure_sampler_study(run_dir / "sampler_study.csv", out / "sampler_nfe.png"):
        figures.append("sampler_nfe.png")
    verdict = (out / "verdict.md").read_text(encoding="utf-8").split("\n", 1)[1] if (out / "verdict.md").is_file() else ""
    index = ["# ehrbench report", "", caption, "", headline,
             "Full per-score tables: [leaderboard.md](leaderboard.md) (below the headline) and one file per "
             "category (" + ", ".join(f"[{c}.md]({c}.md)" for c in CATEGORY_ORDER if (out / f"{c}.md").is_file())
             + ").", "", "## Verdict", "", verdict.strip(), "",
             "## Use-case ranking", "", "See [ranking.md](ranking.md).", "",
             "## Departures from the published configurations", "", departures_markdown(manifest, preset),
             "## Critical-difference diagram (across datasets)", ""]
    if cd_drawn:
        index += ["![critical_difference.png](critical_difference.png)", ""]
    index += ["Not drawn: " + "; ".join(cd_why) + "." if cd_why else "", "", "## Figures", ""]
    index += [f"![{f}]({f})" for f in figures if f != "critical_difference.png"]
    write_text(out / "README.md", "\n".join(index) + "\n")
    return out
