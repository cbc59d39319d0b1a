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

from bench.budgets import budget_of, fraction_table, policy_text
from bench.core.departures import Departures
from bench.core.errors import BenchError
from bench.core.io import read_json, write_csv, write_parquet, write_text
from bench.headline import headline_markdown
from bench.ranking import reference_generators
from bench.records import JobRecord
from bench.run_status import read_manifest
from bench.schedules import schedule_fractions
from bench.tables import (
    BOLD_RULE,
    CATEGORY_ORDER,
    CELL_RULE,
    leaderboard_csv,
    leaderboard_latex,
    leaderboard_markdown,
    summarize,
)
from bench.verdict import verdict_markdown, verdict_table

SCORE_COLUMNS = ["generator", "dataset", "seed", "category", "metric", "score", "value", "goal",
                 "ideal", "reference", "note"]
# jobs.csv: these, then one ``diag_<name>`` column per generator diagnostic (JobRecord.diagnostic_columns)
# threads: the job's thread budget, part of its float path (reductions split across threads), so a
# reader comparing two runs' scores can see whether they computed alike
# key: the hash that decides the job's numbers, so a run folder seeded from these tables
# (records_from_tables) skips a job whose key still matches, as a resumed run does
JOB_COLUMNS = ["generator", "dataset", "seed", "status", "fit_s", "sample_s", "peak_mem_mb",
               "gpu_peak_mem_mb", "n_synthetic", "wall_s", "threads", "error", "key"]


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


def has_records(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds job records (a run), rather than only the tables rendered from
    them (the committed leaderboard folder, which keeps scores.csv, timings.csv, jobs.csv and the
    manifest: aggregates, no record of a patient)."""
    return any((run_dir / "jobs").glob("*.json"))


def records_from_tables(folder: Path) -> list[JobRecord]:
    """The job records a rendered folder's tables still hold (the inverse of :func:`long_scores`
    and :func:`jobs_table`): one per row of jobs.csv that ran (``missing`` rows are not records),
    with its rows of scores.csv and timings.csv and its ``diag_`` columns as diagnostics. Values
    come back as the tables wrote them (10 significant digits); what the tables never held (the
    generator's parameters, loss curves, prevalence profiles) is absent, and a job without a
    ``key`` (tables written before the column existed) is never taken for finished when its own
    dataset runs again."""
    scores, jobs = load_tables(folder)
    if jobs.empty or "status" not in jobs.columns:
        return []
    by_job = {k: g for k, g in scores.groupby(["generator", "dataset", "seed"], sort=False)}
    out = []
    for row in jobs[jobs["status"].isin(["ok", "error"])].to_dict("records"):
        gen, data, seed = str(row["generator"]), str(row["dataset"]), int(row["seed"])
        rows = by_job.get((gen, data, seed))
        record = JobRecord(gen, data, seed, int(row["n_synthetic"]), status=str(row["status"]),
                           error=_cell(row.get("error")), fit_s=_cell(row.get("fit_s")),
                           sample_s=_cell(row.get("sample_s")), wall_s=_cell(row.get("wall_s")),
                           peak_mem_mb=_cell(row.get("peak_mem_mb")), gpu_peak_mem_mb=_cell(row.get("gpu_peak_mem_mb")),
                           key=_cell(row.get("key")), threads=_int_cell(row.get("threads")),
                           diagnostics={k[5:]: v for k, v in row.items() if k.startswith("diag_") and _cell(v) is not None})
        if rows is not None:
            record.scores = [{**{k: v for k, v in s.items() if k not in ("generator", "dataset", "seed")},
                              "ideal": _ideal(s["ideal"])} for s in rows.to_dict("records")]
        out.append(record)
    return out


def _cell(v):
    """A table cell as a record field: NaN (an empty cell) is None."""
    return None if v is None or (isinstance(v, float) and v != v) else v


def _int_cell(v):
    v = _cell(v)
    return None if v is None else int(v)


def _ideal(v):
    """A score's ideal from its text cell: a number, the name of a reference score, or None."""
    v = _cell(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def load_tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the long scores table with the speed rows, jobs table) of a run directory: from its job
    records, or, where there are none, from the per-block tables a rendering left
    (scores.csv + timings.csv, jobs.csv). A folder with neither is an error naming it."""
    if has_records(run_dir):
        records = load_records(run_dir)
        return long_scores(records), jobs_table(records)
    if not (run_dir / "scores.csv").is_file():
        raise BenchError(f"{run_dir} holds neither job records (jobs/*.json) nor per-block scores (scores.csv)")
    parts = [read_scores_csv(run_dir / name) for name in ("scores.csv", "timings.csv") if (run_dir / name).is_file()]
    scores = pd.concat(parts, ignore_index=True)
    jobs = read_jobs_csv(run_dir / "jobs.csv") if (run_dir / "jobs.csv").is_file() else pd.DataFrame(columns=JOB_COLUMNS)
    return scores, jobs


def read_jobs_csv(path: Path) -> pd.DataFrame:
    """A jobs.csv as written by :func:`write_tables`, its ``key`` kept as the text it is (16 hex
    digits). Left to pandas' type inference, a key of digits reads as a number that loses its
    leading zeros, one like ``12e0034`` as a float, and ``5e54420781278992`` crashed pandas 2.3's
    C parser outright (a segmentation fault): a resumed run would then never find the key again."""
    return pd.read_csv(path, dtype={"key": str})


def read_scores_csv(path: Path) -> pd.DataFrame:
    """A scores.csv / timings.csv as written by :func:`write_tables`, with its types restored."""
    try:
        df = pd.read_csv(path, dtype={"ideal": object, "note": object})
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path} is unreadable ({exc})") from None
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise BenchError(f"{path} lacks the column(s) {', '.join(missing)}")
    df["reference"] = df["reference"].astype(str).str.lower().isin(["true", "1"])
    df["note"] = df["note"].fillna("")
    return df[SCORE_COLUMNS]


def write_tables(run_dir: Path, datasets: list[str] | None = None, generators: list[str] | None = None) -> pd.DataFrame:
    """Write scores.csv, timings.csv, jobs.csv (from the job records, when the folder has them),
    summary.csv, the headline, the verdict and the leaderboards (``leaderboard.md`` headed by the
    headline, ``.csv``, ``.tex``, ``tables/<category>.*``); return the summary."""
    scores, jobs = load_tables(run_dir)
    if has_records(run_dir):
        speed = scores["category"] == "speed"
        write_csv(run_dir / "scores.csv", scores[~speed])
        write_parquet(run_dir / "scores.parquet", scores[~speed])  # the same rows, typed, for dataframe tools
        write_csv(run_dir / "timings.csv", scores[speed])
        write_csv(run_dir / "jobs.csv", with_missing_jobs(jobs, _manifest(run_dir)))
    references = run_references(scores, generators)
    summary = summarize(scores, generators, references)
    write_csv(run_dir / "summary.csv", summary)
    manifest = _manifest(run_dir)
    write_leaderboards(run_dir, scores, summary, jobs, caption(run_dir), generators, references,
                       category_dir=run_dir / "tables", basis=schedule_bases(manifest), budget=budget_of(manifest))
    return summary


def _manifest(run_dir: Path) -> dict:
    """The run's manifest as a reader takes it: a run whose process is gone is interrupted (bench.run_status)."""
    try:
        return read_manifest(run_dir)
    except (OSError, ValueError):
        return {}


def write_verdict(out: Path, scores: pd.DataFrame, references: set[str], text: str = "",
                  pairs: list[tuple[str, str]] | None = None) -> str:
    """verdict.csv and verdict.md (bench.verdict) into ``out``; returns the Markdown."""
    table = verdict_table(scores, pairs, references=references)
    write_csv(out / "verdict.csv", table)
    md = verdict_markdown(table, text)
    write_text(out / "verdict.md", md)
    return md


def run_references(scores: pd.DataFrame, generators: list[str] | None = None) -> set[str]:
    """The reference generators of a run: ``independent``, ``real-copy`` and every generator class
    declaring ``is_reference = True`` (bench.ranking.reference_generators)."""
    labels = list(dict.fromkeys([*(generators or []), *scores["generator"].astype(str)]))
    return reference_generators(labels)


def write_leaderboards(
    out: Path, scores: pd.DataFrame, summary: pd.DataFrame, jobs: pd.DataFrame, text: str,
    generators: list[str] | None, references: set[str], category_dir: Path | None = None,
    basis: dict[str, str] | None = None, pairs: list[tuple[str, str]] | None = None, budget: int | None = None,
) -> str:
    """The tables a reader sees, into ``out``: ``headline.md``; ``verdict.md``/``.csv`` (the
    paired comparisons, bench.verdict); ``leaderboard.md`` (the headline, then every per-score
    table), ``leaderboard.csv``, ``leaderboard.tex``; and one Markdown and one LaTeX file per
    category in ``category_dir`` (default ``out``). ``basis``: generator name -> schedule basis
    (published / own default) for the ‡ footnotes. ``budget``: an equal-budget run's updates, whose
    headline has no ‡ and a table of the updates run instead (bench.budgets). Returns the headline."""
    schedules = schedule_fractions(jobs)
    headline = headline_markdown(scores, generators, references, schedules={} if budget else schedules,
                                 caption=text, schedule_basis=basis, jobs=jobs)
    if budget and (table := fraction_table(jobs, budget, generators, basis)):
        headline += "\n" + table
    category_dir = category_dir or out
    write_text(out / "headline.md", headline)
    write_verdict(out, scores, references, text, pairs)
    full = leaderboard_markdown(summary, jobs, text, schedules, basis)
    write_text(out / "leaderboard.md", "# Leaderboard\n\n" + headline + "\n# Every score\n\n" + full)
    write_csv(out / "leaderboard.csv", leaderboard_csv(summary, schedules))
    write_text(out / "leaderboard.tex", leaderboard_latex(summary, text, schedules, basis))
    for cat in CATEGORY_ORDER:
        part = summary[summary["category"] == cat]
        if part.empty:
            continue
        write_text(category_dir / f"{cat}.md", leaderboard_markdown(part, None, text, schedules, basis))
        write_text(category_dir / f"{cat}.tex", leaderboard_latex(part, text, schedules, basis))
    return headline


def caption(run_dir: Path) -> str:
    """What every table of the run says about itself: code, preset, seeds, splits, data, what a
    cell holds and what bold means."""
    m = _manifest(run_dir)
    if not m:
        return ""
    config = m.get("config", {})
    seeds = config.get("seeds", [])
    prints = ", ".join(f"{n} {_data_fingerprint(d)}" for n, d in m.get("datasets", {}).items())
    preset = config.get("preset")
    return (
        f"{_missing_text(m)}ehrbench {m.get('ehrbench_version')} (code {m.get('code_version')}); "
        f"preset {preset or 'none (published defaults)'}; seeds {seeds} ({_split_text(config)}); data {prints}. "
        f"{CELL_RULE} (each seed its own split unless --split-seed "
        f"pins one); {BOLD_RULE} (marked †).{_departures_text(m.get('generators', {}), preset)}"
        + (f" {policy}" if (policy := policy_text(m)) else "")
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


def declared_departures(manifest: dict) -> dict[str, Departures]:
    """Generator name -> its declared :class:`Departures`, from a run's manifest (MedDiff's rows
    are one class: one entry)."""
    out: dict[str, Departures] = {}
    for g in manifest.get("generators", {}).values():
        if g.get("name") and g["name"] not in out:
            out[g["name"]] = Departures.from_json(g.get("departures"))
    return out


def schedule_bases(manifest: dict) -> dict[str, str]:
    """Generator name -> the basis its schedule fraction is measured against (published / own
    default), for the ‡ footnotes."""
    return {name: d.schedule for name, d in declared_departures(manifest).items()}


def _departures_text(generators: dict, preset: str | None = None) -> str:
    """' Departures from the published code — name: ... — name: ...' for the run's generators that
    declare any (each generator's ``departures``, recorded in the manifest, with the run's
    preset's own changes), once per generator name (MedDiff's three rows are one class)."""
    seen: dict[str, str] = {}
    for name, dep in declared_departures({"generators": generators}).items():
        text = dep.text(preset)
        if text:
            seen[name] = text
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
