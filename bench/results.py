"""The run directory's tables, rebuilt from the finished jobs' records.

``scores.csv`` holds every score that depends only on the data, code and seed, so the same command
gives it bit for bit; ``timings.csv`` holds the speed category, which measures the machine.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.errors import BenchError
from bench.core.io import read_json, write_csv, write_text
from bench.records import JobRecord
from bench.tables import leaderboard_csv, leaderboard_latex, leaderboard_markdown, summarize

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
    """Write scores.csv, timings.csv, jobs.csv and the leaderboards; return the summary."""
    records = load_records(run_dir)
    scores = long_scores(records)
    speed = scores["category"] == "speed"
    write_csv(run_dir / "scores.csv", scores[~speed])
    write_csv(run_dir / "timings.csv", scores[speed])
    jobs = jobs_table(records)
    write_csv(run_dir / "jobs.csv", jobs)
    summary = summarize(scores, generators)
    write_csv(run_dir / "summary.csv", summary)
    text = caption(run_dir)
    write_text(run_dir / "leaderboard.md", leaderboard_markdown(summary, jobs, text))
    write_csv(run_dir / "leaderboard.csv", leaderboard_csv(summary))
    write_text(run_dir / "leaderboard.tex", leaderboard_latex(summary, text))
    return summary


def caption(run_dir: Path) -> str:
    try:
        m = read_json(run_dir / "manifest.json")
    except (OSError, ValueError):
        return ""
    cfg = m.get("config", {})
    seeds = cfg.get("seeds", [])
    prints = ", ".join(f"{n} {_data_fingerprint(d)}" for n, d in m.get("datasets", {}).items())
    preset = cfg.get("preset")
    return (
        f"ehrbench {m.get('ehrbench_version')} (code {m.get('code_version')}); seeds {seeds}; "
        f"preset {preset or 'default'}; data {prints}; {_split_text(cfg)}. Mean ± std over seeds."
    )


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
    which = "each seed its own split" if pinned is None else f"split {pinned} for every seed"
    return f"{which} (validation {cfg.get('val_size', 0)}, test {cfg.get('test_size')})"
