"""The run: the grid of a prepared configuration, job by job, into a run directory.

Each finished job is written atomically to ``jobs/<id>.json`` before the next starts, so an
interrupted run loses nothing that had finished and a rerun of the same command resumes where it
stopped. The jobs themselves run in an executor (:mod:`bench.executors`), which receives the job
function (:func:`bench.jobs.run_job`); the tables are rebuilt from the records as jobs finish
(``tables="each"``: after a job, unless the last rebuild is younger than ``TABLE_REFRESH_FACTOR``
times its own cost; always at the end) or, for a caller that reads the records itself, once at
the end or never. While it runs the manifest says ``running`` and names the process writing it and every
job planned, so a run killed without a word (SIGKILL) reads as interrupted (bench.run_status).

This module is the harness's public face: ``RunConfig``, ``prepare`` and ``run_job`` are
importable from here as well as from their own modules.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from bench.config import BASELINE, Job, Prepared, RunConfig, job_key, parse_generators, prepare
from bench.core.errors import OptionError, describe_error
from bench.core.io import read_json, write_csv, write_json
from bench.core.progress import ProgressBoard, finished_line
from bench.executors import SerialExecutor, accepts_progress, describe_executor
from bench.jobs import run_job
from bench.provenance import code_version, device_info, git_commit, machine, package_versions
from bench.records import JobRecord, plain
from bench.results import write_tables
from bench.run_status import GONE, check_not_held, held_elsewhere, process_state, resolve, running_manifest

__all__ = ["BASELINE", "Job", "Prepared", "RunConfig", "find_resumable", "new_run_dir", "parse_generators",
           "prepare", "run", "run_job", "run_new"]

TABLES = ("each", "end", "none")
# Rebuilding the tables reads every record in the folder: about 26 s at 750 records on one core
# (a leaderboard run folder), in this process, while the workers run jobs. Rebuilt after every
# job, that cost grew with the folder until it took a core from the workers and doubled a part's
# time (rhc: 3,847 s for 1,937 s of jobs in two workers). After a rebuild, the next waits until
# this many times its cost has passed, so rebuilding takes at most about a tenth of the run.
TABLE_REFRESH_FACTOR = 10.0


class _TableRefresh:
    """When ``tables="each"`` rebuilds: after a finished job, once the last rebuild's cost times
    TABLE_REFRESH_FACTOR has passed since it ended (at once, the first time)."""

    def __init__(self, run_dir: Path, prep: Prepared) -> None:
        self.run_dir, self.prep = run_dir, prep
        self.cost = 0.0
        self.ended = -float("inf")

    def after_job(self) -> None:
        if time.perf_counter() - self.ended < TABLE_REFRESH_FACTOR * self.cost:
            return
        t0 = time.perf_counter()
        write_tables(self.run_dir, self.prep.config.table_labels, self.prep.config.generator_labels)
        self.ended = time.perf_counter()
        self.cost = self.ended - t0


def find_resumable(root: Path, config: RunConfig) -> Path | None:
    """The newest run directory made by the same configuration, if any, that no other live
    process on this host is running now."""
    if not root.is_dir():
        return None
    for d in sorted(root.glob(f"*-{config.hash}"), reverse=True):
        if (d / "manifest.json").is_file():
            try:
                held = held_elsewhere(read_json(d / "manifest.json"))
            except (OSError, ValueError, AttributeError):
                held = False  # unreadable: chosen as before, and refused with the reason where it is read
            if not held:
                return d
    return None


def new_run_dir(root: Path, config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    d = root / f"{stamp}-{config.hash}"
    i = 1
    while d.exists():
        d = root / f"{stamp}.{i}-{config.hash}"
        i += 1
    return d


def _finished(path: Path, key: str | None, log) -> bool:
    """A job counts as finished when its record exists, matches its key (None: any key) and did
    not fail."""
    if not path.exists():
        return False
    try:
        rec = read_json(path)
    except (OSError, ValueError):
        rec = None
    if not isinstance(rec, dict):  # unreadable: the job is run again and its record replaced
        log(f"note: job record {path} is unreadable; the job is run again")
        path.unlink(missing_ok=True)
        return False
    return (key is None or rec.get("key") == key) and rec.get("status") == "ok"


def run(
    prep: Prepared,
    run_dir: Path,
    command: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    log=None,
    executor=None,
    tables: str = "each",
    rerun: Collection[str] | None = None,
    run_none: bool = False,
) -> Path:
    """Run the grid into ``run_dir``, skipping jobs already finished there with the same key.

    ``rerun`` (generator labels): run those generators' jobs whatever their records say, and keep
    every other finished record as it is, even one of older code (a change that moves only these
    generators' numbers; bench.leaderboard records which code built which rows).

    ``run_none``: run no job: every record is kept as it is (ok or failed, of any code) and the
    tables are rebuilt from them; a job without a record is an error, raised before anything is
    written (``bench leaderboard --retire``: dropping rows moves no other row's numbers).

    ``tables``: ``each`` rebuilds the tables as jobs finish (a reader of the folder sees the
    finished jobs; in a large folder not after every one: :data:`TABLE_REFRESH_FACTOR`) and at the
    end, ``end`` once when the run ends or is interrupted, ``none`` never (a caller that reads the
    records itself: bench.results.load_tables)."""
    from tqdm import tqdm

    if tables not in TABLES:
        raise ValueError(f"tables must be one of {TABLES}, got {tables!r}")
    log = log or (lambda msg: print(msg, file=sys.stderr))
    manifest_path = run_dir / "manifest.json"
    if run_none:
        lacking = [job.id for job in prep.jobs if not (run_dir / "jobs" / f"{job.id}.json").is_file()]
        if lacking:
            raise OptionError(f"{run_dir}: {len(lacking)} of {len(prep.jobs)} jobs have no record (first: "
                              f"{', '.join(lacking[:3])}), and this run may run none; build them first")
    if manifest_path.exists():
        old = read_json(manifest_path)
        if old.get("config_hash") != prep.config.hash:
            raise OptionError(
                f"{run_dir} holds a run of another configuration ({old.get('config_hash')}); "
                "name another --out directory"
            )
        check_not_held(run_dir, old)
        _note_gone(run_dir, old, log)
    run_dir.mkdir(parents=True, exist_ok=True)
    executor = executor or SerialExecutor()
    manifest = {
        "command": command,
        "config": prep.config.to_dict(),
        "config_hash": prep.config.hash,
        "code_version": code_version(),
        "git_commit": git_commit(),
        "ehrbench_version": package_versions().get("ehrbench"),
        "packages": package_versions(),
        "machine": machine(),
        "datasets": _datasets_manifest(prep),
        "generators": {
            p.spec.label: {"name": p.spec.name, "options": p.spec.options,
                           "params": {k: plain(v) for k, v in p.params.items()},
                           "departures": p.cls.departures.to_json()}
            for p in prep.plans
        },
        "executor": describe_executor(executor),
        "device": device_info(prep.config.device),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **running_manifest(prep.jobs),  # status, process and jobs planned: a run killed without a word reads interrupted
    }
    write_json(manifest_path, manifest)
    jobs_dir = run_dir / "jobs"
    jobs = prep.jobs
    pending, skipped = [], 0
    for job in jobs:
        path = jobs_dir / f"{job.id}.json"
        if run_none:
            keep = True
        elif rerun is not None:
            keep = job.spec.label not in rerun and _finished(path, None, log)
        else:
            keep = not force and _finished(path, job_key(prep, job), log)
        if keep:
            skipped += 1
        else:
            pending.append(job)
    if skipped:
        how = ("kept as they are (none runs)" if run_none else f"kept as they are (--rerun {','.join(sorted(rerun))})"
               if rerun is not None else "reused")
        log(f"{skipped} of {len(jobs)} jobs already finished in {run_dir}: {how}")
    done = failed = 0
    # no overall time left: averaged over jobs of very different lengths it misleads; each running
    # job's own estimate is in the postfix instead
    bar = tqdm(total=len(pending), desc="jobs", unit="job", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, bar_format="{desc}: {n_fmt}/{total_fmt} [{elapsed}]{postfix}")
    # the running jobs' own progress (epochs, updates, stage) and estimates in the bar's postfix,
    # where the executor can pass it on (local and process; not Ray)
    running = ProgressBoard()

    def job_progress(job: Job, done_: int, total: int, unit: str) -> None:
        running.report(job.id, done_, total, unit)
        bar.set_postfix_str(running.line())

    extra = {"progress": job_progress} if progress and accepts_progress(executor) else {}
    finished: set[str] = set()
    refresh = _TableRefresh(run_dir, prep)
    restore_sigterm = _sigterm_as_interrupt()
    try:
        synthetic_dir = run_dir / "synthetic" if prep.config.save_synthetic else None
        for job, record in executor.run(run_job, prep, pending, synthetic_dir, **extra):
            running.finish(job.id)
            record.key = job_key(prep, job)
            _write_side_files(run_dir, prep, job, record)
            write_json(jobs_dir / f"{job.id}.json", record.to_json())
            done += 1
            if not record.ok:
                failed += 1
                if progress:
                    bar.write(f"job {job.id} failed: {record.error}", file=sys.stderr)
            if not progress:  # no bar: a line per finished job (its error included)
                log(finished_line(record, done, len(pending)))
            bar.update(1)
            bar.set_postfix_str(running.line() or job.id[:60])
            finished.add(job.id)
            if tables == "each":
                refresh.after_job()
    except BaseException as exc:  # Ctrl-C, SIGTERM, an executor's crash: say so, name what is missing
        missing = [j for j in pending if j.id not in finished]
        _record_interruption(run_dir, prep, manifest, exc, missing,
                             {"total": len(jobs), "run": done, "reused": skipped, "failed": failed}, log,
                             tables != "none")
        raise
    finally:
        restore_sigterm()
        bar.close()
        executor.close()
    manifest["status"] = "complete"
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["jobs"] = {"total": len(jobs), "run": done, "reused": skipped, "failed": failed}
    if tables != "none":
        write_tables(run_dir, prep.config.table_labels, prep.config.generator_labels)
    write_json(manifest_path, manifest)
    log(f"{len(jobs)} jobs: {done} run, {skipped} reused, {failed} failed -> {run_dir}")
    return run_dir


def run_new(prep: Prepared, root: Path, **kwargs) -> Path:
    """Run the grid into a new run directory under ``root`` (:func:`new_run_dir`); :func:`run`'s
    keywords. Returns the directory."""
    return run(prep, new_run_dir(root, prep.config), **kwargs)


def _note_gone(run_dir: Path, old: dict, log) -> None:
    """Say so when the run being resumed was killed without a word (its process gone)."""
    if old.get("status") != "running" or process_state(old.get("process")) != GONE:
        return
    seen = resolve(old, run_dir)
    named = ", ".join(f"{j['generator']} on {j['dataset']} seed {j['seed']}" for j in seen["missing_jobs"][:5])
    more = f" and {len(seen['missing_jobs']) - 5} more" if len(seen["missing_jobs"]) > 5 else ""
    log(f"note: the run in {run_dir} was {seen['interrupted']}; {len(seen['missing_jobs'])} of "
        f"{seen['jobs']['total']} jobs missing ({named}{more}); resuming")


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (a scheduler's time limit, ``kill``) received during a run: handled as Ctrl-C is."""


def _sigterm_as_interrupt():
    """Turn SIGTERM into :class:`RunInterrupted` while the grid runs, so a killed run records
    that it was interrupted; returns the function that restores the previous handler. Only the
    main thread can set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(signum, frame):
        raise RunInterrupted("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):  # e.g. an embedded interpreter
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _record_interruption(run_dir: Path, prep: Prepared, manifest: dict, exc: BaseException, missing: list[Job],
                         counts: dict, log, tables: bool = True) -> None:
    """The manifest of a run that stopped before its last job: status ``interrupted``, why, and the
    jobs that have no record; the tables (``tables``) are rebuilt so their caption names those
    jobs. Never raises: the interruption itself is what the caller re-raises."""
    reason = "interrupted (Ctrl-C)" if type(exc) is KeyboardInterrupt else describe_error(exc)
    manifest["status"] = "interrupted"
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest["interrupted"] = reason
    manifest["jobs"] = {**counts, "missing": len(missing)}
    manifest["missing_jobs"] = [{"generator": j.spec.label, "dataset": j.dataset, "seed": j.seed} for j in missing]
    try:
        write_json(run_dir / "manifest.json", manifest)
        if tables:
            write_tables(run_dir, prep.config.table_labels, prep.config.generator_labels)
    except Exception as err:  # the interruption is the news; a table that cannot be written is a note
        log(f"note: the tables of the interrupted run could not be rebuilt: {describe_error(err)}")
    log(f"run interrupted ({reason}): {len(missing)} of {counts['total']} jobs missing; "
        f"manifest.json lists them; rerun the same command to resume -> {run_dir}")


def _datasets_manifest(prep: Prepared) -> dict:
    """Per table label: the training dataset (and the evaluation dataset) in aggregates, and per
    seed the split it drew: split seed, fingerprint and size of every part."""
    out = {}
    for label, by_split in prep.data.items():
        seeds = {}
        for seed in prep.config.seeds:
            d = by_split[prep.config.split_seed_for(seed)]
            seeds[str(seed)] = {**d.fingerprints(), "records": d.sizes()}
        out[label] = {**prep.sources.get(label, {}), "splits": seeds}
    return out


def _write_side_files(run_dir: Path, prep: Prepared, job: Job, record: JobRecord) -> None:
    """A job's training curves and per-code prevalences, beside (not inside) its record."""
    if record.history:
        write_csv(run_dir / "curves" / f"{job.id}.csv", pd.DataFrame(record.history))
    profile = record.profile
    if profile is not None:
        train = prep.job_data(job).score_train  # the real records the metrics compare it with
        write_csv(run_dir / "profiles" / f"{job.id}.csv", pd.DataFrame({
            "column": train.columns,
            "real": np.round((train.X > 0).mean(axis=0), 6),
            "synthetic": profile,
        }))
