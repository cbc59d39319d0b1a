"""The run directory's tables, rebuilt from the finished jobs' records.

``scores.csv`` holds every score that depends only on the data, code and seed, so the same command
gives it bit for bit; ``timings.csv`` holds the speed category, which measures the machine.

What a reader sees first is ``headline.md`` (bench.headline: one row per generator, one column
per facet); it also heads ``leaderboard.md``, above every per-score table. The per-category files
(``tables/<category>.md`` and ``.tex``) hold the same per-score tables one category at a time.
Every table sets the reference generators apart (bench.ranking.reference_generators) and marks a
generator trained below its published schedule (bench.schedules).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.errors import BenchError
from bench.core.io import read_json, write_csv, write_parquet, write_text
from bench.headline import headline_markdown
from bench.ranking import reference_generators
from bench.records import JobRecord
from bench.schedules import schedule_fractions
from bench.tables import (
    BOLD_RULE,
    CATEGORY_ORDER,
    leaderboard_csv,
    leaderboard_latex,
    leaderboard_markdown,
    summarize,
)

SCORE_COLUMNS = ["generator", "dataset", "seed", "category", "metric", "score", "value", "goal",
                 "ideal", "reference", "note"]
# jobs.csv: these, then one ``diag_<name>`` column per generator diagnostic (JobRecord.diagnostic_columns)
JOB_COLUMNS = ["generator", "dataset", "seed", "status", "fit_s", "sample_s", "peak_mem_mb",
               "gpu_peak_mem_mb", "n_synthetic", "wall_s", "error"]


class UnreadableRecord(BenchError):
    """A ``jobs/<id>.json`` that cannot be read: the means would silently cover fewer seeds."""


def load_records(run_dir: Path) -> list[JobRecord]:
    """Every job record of a run directory; an unreadable one is an error naming its file."""
    records = []
    for path in sorted((run_dir / "jobs").glob("*.json")):
        try:
            records.append(JobRecord.from_json(read_json(path)))
        except (OSError, ValueError, TypeError) as exc:
            raise UnreadableRecord(f"job record {path} is unreadable ({exc}); delete it and rerun the "
                                   "same command to recompute that job") from None
    return records


def long_scores(records: list[JobRecord]) -> pd.DataFrame:
    rows = [
        {"generator": r.generator, "dataset": r.dataset, "seed": r.seed, **s}
        for r in records
        for s in r.scores
    ]
    df = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    return df.sort_values(["dataset", "generator", "seed", "category", "metric", "score"], kind="stable")


def jobs_table(records: list[JobRecord]) -> pd.DataFrame:
    rows = [{**{k: getattr(r, k) for k in JOB_COLUMNS}, **r.diagnostic_columns()} for r in records]
    diag = sorted({k for row in rows for k in row} - set(JOB_COLUMNS))
    df = pd.DataFrame(rows, columns=JOB_COLUMNS + diag)
    return df.sort_values(["dataset", "generator", "seed"], kind="stable")


def write_tables(run_dir: Path, datasets: list[str] | None = None, generators: list[str] | None = None) -> pd.DataFrame:
    """Write scores.csv, timings.csv, jobs.csv, summary.csv, the headline and the leaderboards
    (``leaderboard.md`` headed by the headline, ``.csv``, ``.tex``, ``tables/<category>.*``);
    return the summary."""
    records = load_records(run_dir)
    scores = long_scores(records)
    speed = scores["category"] == "speed"
    write_csv(run_dir / "scores.csv", scores[~speed])
    write_parquet(run_dir / "scores.parquet", scores[~speed])  # the same rows, typed, for dataframe tools
    write_csv(run_dir / "timings.csv", scores[speed])
    jobs = jobs_table(records)
    write_csv(run_dir / "jobs.csv", with_missing_jobs(jobs, _manifest(run_dir)))
    references = run_references(scores, generators)
    summary = summarize(scores, generators, references)
    write_csv(run_dir / "summary.csv", summary)
    write_leaderboards(run_dir, scores, summary, jobs, caption(run_dir), generators, references,
                       category_dir=run_dir / "tables")
    return summary


def run_references(scores: pd.DataFrame, generators: list[str] | None = None) -> set[str]:
    """The reference generators of a run: ``independent``, ``real-copy`` and every generator class
    declaring ``is_reference = True`` (bench.ranking.reference_generators)."""
    labels = list(dict.fromkeys([*(generators or []), *scores["generator"].astype(str)]))
    return reference_generators(labels)


def write_leaderboards(
    out: Path, scores: pd.DataFrame, summary: pd.DataFrame, jobs: pd.DataFrame, text: str,
    generators: list[str] | None, references: set[str], category_dir: Path | None = None,
) -> str:
    """The tables a reader sees, into ``out``: ``headline.md``; ``leaderboard.md`` (the headline,
    then every per-score table), ``leaderboard.csv``, ``leaderboard.tex``; and one Markdown and one
    LaTeX file per category in ``category_dir`` (default ``out``). Returns the headline."""
    schedules = schedule_fractions(jobs)
    headline = headline_markdown(scores, generators, references, schedules=schedules, caption=text)
    category_dir = category_dir or out
    write_text(out / "headline.md", headline)
    full = leaderboard_markdown(summary, jobs, text, schedules)
    write_text(out / "leaderboard.md", "# Leaderboard\n\n" + headline + "\n# Every score\n\n" + full)
    write_csv(out / "leaderboard.csv", leaderboard_csv(summary, schedules))
    write_text(out / "leaderboard.tex", leaderboard_latex(summary, text, schedules))
    for cat in CATEGORY_ORDER:
        part = summary[summary["category"] == cat]
        if part.empty:
            continue
        write_text(category_dir / f"{cat}.md", leaderboard_markdown(part, None, text, schedules))
        write_text(category_dir / f"{cat}.tex", leaderboard_latex(part, text, schedules))
    return headline


def caption(run_dir: Path) -> str:
    """What every table of the run says about itself: code, preset, seeds, splits, data, what a
    cell holds and what bold means."""
    try:
        m = read_json(run_dir / "manifest.json")
    except (OSError, ValueError):
        return ""
    config = m.get("config", {})
    seeds = config.get("seeds", [])
    prints = ", ".join(f"{n} {_data_fingerprint(d)}" for n, d in m.get("datasets", {}).items())
    preset = config.get("preset")
    return (
        f"{_missing_text(m)}ehrbench {m.get('ehrbench_version')} (code {m.get('code_version')}); "
        f"preset {preset or 'none (published defaults)'}; seeds {seeds} ({_split_text(config)}); data {prints}. "
        "Cells: mean ± 95% t-interval half-width over seeds (each seed its own split unless --split-seed "
        f"pins one); {BOLD_RULE} (marked †).{_departures_text(m.get('generators', {}))}"
    )


MISSING_NAMED = 10  # missing jobs a caption names; manifest.json lists every one


def _missing_text(m: dict) -> str:
    """'INCOMPLETE RUN ...' naming the jobs an interrupted run never finished ('' for a whole run)."""
    missing = m.get("missing_jobs") or []
    if m.get("status") != "interrupted" or not missing:
        return ""
    named = "; ".join(f"{j['generator']} on {j['dataset']}, seed {j['seed']}" for j in missing[:MISSING_NAMED])
    more = f"; and {len(missing) - MISSING_NAMED} more (manifest.json lists every one)" if len(missing) > MISSING_NAMED else ""
    total = (m.get("jobs") or {}).get("total", "?")
    return (f"INCOMPLETE RUN ({m.get('interrupted', 'interrupted')}): {len(missing)} of {total} jobs missing, "
            f"their scores absent from every mean: {named}{more}. ")


def with_missing_jobs(jobs: pd.DataFrame, m: dict) -> pd.DataFrame:
    """``jobs`` with a row of status ``missing`` for every job an interrupted run never finished."""
    missing = m.get("missing_jobs") or []
    if m.get("status") != "interrupted" or not missing:
        return jobs
    rows = pd.DataFrame([{**j, "status": "missing", "error": f"not run: the run was {m.get('interrupted', 'interrupted')}"}
                         for j in missing])
    return pd.concat([jobs, rows.reindex(columns=jobs.columns)], ignore_index=True)


def _manifest(run_dir: Path) -> dict:
    try:
        return read_json(run_dir / "manifest.json")
    except (OSError, ValueError):
        return {}


def _departures_text(generators: dict) -> str:
    """' Departures from the published code — name: ... — name: ...' for the run's generators that
    declare any (each generator's ``departures``, recorded in the manifest), once per generator
    name (MedDiff's three rows are one class)."""
    seen: dict[str, str] = {}
    for g in generators.values():
        text = g.get("departures") or ""
        if text and g.get("name") not in seen:
            seen[g["name"]] = text
    if not seen:
        return ""
    return " Departures from the published code — " + " — ".join(f"{n}: {t}" for n, t in sorted(seen.items())) + "."


def _data_fingerprint(d: dict) -> str:
    """The whole dataset's fingerprint (``trained → scored`` for a transported one); a manifest
    written before repeated splits has its one train part's."""
    if "dataset" not in d:
        return str(d.get("train", {}).get("fingerprint"))
    text = str(d["dataset"].get("fingerprint"))
    if "eval_dataset" in d:
        text += f" → {d['eval_dataset'].get('fingerprint')}"
    return text


def _split_text(cfg: dict) -> str:
    pinned = cfg.get("split_seed")
    which = ("each seed its own split" if pinned is None
             else f"one split for every seed, pinned by --split-seed {pinned}")
    text = f"{which} (validation {cfg.get('val_size', 0)}, test {cfg.get('test_size')})"
    if cfg.get("score_on", "test") == "validation":
        text += "; SCORED ON VALIDATION (a tuning run: not results to cite)"
    return text
