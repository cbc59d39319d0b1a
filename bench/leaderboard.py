"""The committed leaderboard's grid, built in parts that merge (issue 25).

The grid: eunomia and five SurvSet cohorts of real patients, ten seeds each (each seed its own
split), every registered contestant (``-g all``: MedDiff's three rows included), at the ``cpu``
preset and one equal budget of optimiser updates. Whole, it is hours of CPU; so each dataset is a
*part*: ``--part flchain`` runs only that dataset's jobs, in the same run folder as every other
part (one configuration, so one folder: ``<out>/runs/<time>-<config hash>``), skipping every job
whose record is there with the same key. Parts can be built on different days, in any order, and
a part stopped midway resumes like any run. After each part the leaderboard is rendered from
every finished job; while jobs are missing, the manifest says ``interrupted`` and why, lists
every missing job, and every table's caption names them (bench.results' missing-job reporting).

Each part's wall time (data loading, jobs and rendering) is measured and kept per session in
``build_times.csv`` beside the manifest (and in the manifest's ``grid`` entry), with the load
average at its start and end, since other work on the machine moves it.

Only the part's dataset is loaded, so a part needs only its own data; the manifest's per-dataset
entries (fingerprints of every split) are kept across parts in ``grid.json`` in the run folder.
A record of a dataset not loaded counts as finished when it exists and is ok; its key is checked
when its own part runs again.

The default budget, ``GRID_BUDGET`` updates, was chosen so that a part fits 45 minutes on 2 cores
with ``-j 2``: from measured per-update times of every contestant at the ``cpu`` preset on
eunomia (the widest dataset, 243 columns) at one thread, results/README.md gives the arithmetic.

A second, optional grid (``--published-schedules GEN,...``) runs the named generators at their
published defaults (no preset, no budget) in a second run folder, rendered into
``<out>/leaderboard-published/`` and marked as such in every caption.

Tuning policy: nothing is tuned on the leaderboard. Every contestant runs its declared defaults
(at the preset); rows a class declares in ``Generator.variants`` (MedDiff: guided) are
ablations of its contributions, fixed before any run; anything else given on the command line is
named in the caption as set by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench import harness
from bench.config import Checked, Prepared, RunConfig, check, job_id, parse_generators, prepare
from bench.core.errors import OptionError
from bench.core.io import read_json, write_csv, write_json
from bench.core.options import DatasetSpec
from bench.executors import describe_executor
from bench.grid_choices import parse_parts, parse_rerun, parse_retire, tuning_policy
from bench.results import records_from_tables, write_tables

GRID_DATASETS = "eunomia,flchain,dialysis,smarto,framingham,rhc"
GRID_SEEDS = "0-9"
GRID_PRESET = "cpu"
GRID_BUDGET = 300  # optimiser updates per neural contestant: results/README.md says how it was chosen
EQUAL, PUBLISHED = "equal-budget", "published"
FOLDERS = {EQUAL: "leaderboard", PUBLISHED: "leaderboard-published"}
BUILD_TIMES = "build_times.csv"
GRID_STATE = "grid.json"
# what the committed folder keeps (aggregates only): `bench report` and `bench compare` re-render
# and compare it from these, without the job records
KEPT = ("manifest.json", "scores.csv", "timings.csv", "jobs.csv", BUILD_TIMES)
TOP = ("headline.md", "verdict.md", "leaderboard.md", "leaderboard.tex", "leaderboard.csv", "ranking.md")
TIME_COLUMNS = ["dataset", "status", "wall_s", "jobs_run", "jobs_reused", "jobs_failed", "parallel_jobs", "threads",
                "cores", "load_start", "load_end", "started", "finished", "code", "command", "rerun", "retired"]


@dataclass
class Grid:
    """One configuration of the leaderboard (the equal-budget grid, or the published-schedule
    one), checked; ``folder``: where under ``--out`` its tables are rendered."""

    kind: str
    config: RunConfig
    checked: Checked
    tuning: str

    @property
    def folder(self) -> str:
        return FOLDERS[self.kind]

    @property
    def title(self) -> str:
        """How messages name the grid: the main grid claims an equal budget only when it has one
        (``--budget none`` runs each generator's own schedule at the preset)."""
        if self.kind == EQUAL and self.config.budget is None:
            return "main grid (no equal budget: each generator's own schedule)"
        return f"{self.kind} grid"

    @property
    def labels(self) -> list[str]:
        return self.config.table_labels

    def job_ids(self, datasets: list[str] | None = None) -> list[tuple[str, str, int, str]]:
        """(generator, dataset, seed, job id) of every job of the grid (of ``datasets`` only)."""
        return [(p.spec.label, d, s, job_id(p.spec.label, d, s)) for d in (datasets or self.labels)
                for p in self.checked.plans for s in self.config.seeds]


@dataclass
class Build:
    """What one ``bench leaderboard`` command builds: its grids, the parts (dataset labels, in
    grid order) and where the tables go."""

    grids: list[Grid]
    parts: list[str]
    out: Path
    sessions: list[dict[str, Any]] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)
    retire: list[str] = field(default_factory=list)


def plan(generators: str = "all", datasets: str = GRID_DATASETS, seeds: list[int] | None = None,
         preset: str | None = GRID_PRESET, budget: int | None = GRID_BUDGET, parts: list[str] | None = None,
         published: str | None = None, out: str | Path = "results", metrics: list[str] | None = None,
         rerun: str | None = None, retire: str | None = None, **split: Any) -> Build:
    """Every check of a leaderboard build before any work: generators, datasets, seeds, preset,
    budget, ``--part`` names, ``--rerun`` rows and the published-schedule generators. ``split``:
    device, split_seed, val_size, test_size (RunConfig fields).

    ``rerun``: rebuild only these rows in each part (a change that moves only their numbers, such
    as a generator's own code): their jobs run again at the current code, every other finished
    record of the part is kept as it is, and the manifest's ``grid.rows_rebuilt`` says which rows
    which code built (``code_by_dataset`` stays the code of the rest of the part).

    ``retire``: drop these rows from the leaderboard rendered under ``out`` and run nothing: the
    grid is ``generators`` (without them), every other row's record is kept as it is (of whatever
    code built it, failed ones too), the tables are rendered again, and the manifest's
    ``grid.rows_retired`` names the rows and the code that retired them. For a row the evidence
    shows to add nothing; dropping it moves no other row's numbers, only the ranks it held."""
    base = dict(datasets=DatasetSpec.parse_list(datasets), seeds=list(range(10)) if seeds is None else seeds,
                metrics=list(metrics or []), **split)
    config = RunConfig(generators=parse_generators(generators), preset=preset, budget=budget, **base)
    grids = [Grid(EQUAL, config, check(config), tuning_policy(config))]
    chosen = parse_parts(parts, config.table_labels)  # after check: the labels are the canonical ones
    rows = parse_rerun(rerun, config.generator_labels)
    retired = parse_retire(retire, config, Path(out) / FOLDERS[EQUAL])
    if retired and (rows or published or parts):
        raise OptionError("--retire renders the whole committed grid again and runs nothing; give it without "
                          "--rerun, --published-schedules and --part")
    if published:
        if rows:
            raise OptionError("--rerun rebuilds rows of the main grid; build --published-schedules without it")
        pub = RunConfig(generators=parse_generators(published), preset=None, budget=None, **base)
        grids.append(Grid(PUBLISHED, pub, check(pub), tuning_policy(pub)))
    return Build(grids, chosen, Path(out), rerun=rows, retire=retired)


def build(b: Build, executor: Callable[[], Any], command: list[str] | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Build ``b``'s parts, each grid in its run folder under ``<out>/runs``, rendering after each
    part; return each grid's kind -> run folder. ``executor``: makes a fresh executor per part.
    An interruption (Ctrl-C, SIGTERM) leaves the manifest and tables naming what is missing and
    propagates."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    root = b.out / "runs"
    dirs = {}
    for g in b.grids:
        found = harness.find_resumable(root, g.config)
        dirs[g.kind] = found or harness.new_run_dir(root, g.config)
        if found is None:
            seed_from_rendered(g, dirs[g.kind], b.out / g.folder, log, retired=b.retire)
    for part in b.parts:
        for g in b.grids:
            run_dir = dirs[g.kind]
            log(f"{g.title}, part {part}: {len(g.job_ids([part]))} jobs -> {run_dir}")
            # retiring runs nothing: the tables are rendered once, after the last part
            last = not b.retire or part == b.parts[-1]
            session = _run_part(g, run_dir, b.out, part, executor, command, progress, log, b.rerun, b.retire,
                                render_tables=last)
            b.sessions.append({"grid": g.kind, "title": g.title, **session})
    return dirs


def seed_from_rendered(g: Grid, run_dir: Path, folder: Path, log: Callable[[str], None],
                       retired: list[str] | None = None) -> int:
    """Start a new run folder from the grid's rendered folder (the committed leaderboard: its
    tables and manifest, no job records), so that a part built on another day, from a clean
    checkout, merges with the parts committed before it: the records its tables hold
    (bench.results.records_from_tables) become ``jobs/<id>.json``, the built datasets' entries
    and code go to ``grid.json``, and the build times carry over. Only a folder of the same grid
    (its configuration hash) is taken, and what ``run_dir`` already holds is kept (a record, a
    dataset's entry, a session's time); return the records seeded. With ``retired``, the folder's
    grid is this one with those rows added (``parse_retire`` checked it): their records stay out."""
    try:
        m = read_json(folder / "manifest.json")
    except (OSError, ValueError):
        return 0
    if (m.get("config_hash") != g.config.hash and not retired) or not (folder / "jobs.csv").is_file():
        return 0
    # a merge: a record the run folder already holds is kept as it is
    ours = {(gen, d, s): run_dir / "jobs" / f"{jid}.json" for gen, d, s, jid in g.job_ids()}
    records = [r for r in records_from_tables(folder)
               if (path := ours.get((r.generator, r.dataset, r.seed))) is not None and not path.exists()]
    if not records:
        return 0
    (run_dir / "jobs").mkdir(parents=True, exist_ok=True)
    for r in records:
        write_json(ours[(r.generator, r.dataset, r.seed)], r.to_json())
    grid = m.get("grid") or {}
    state_path = run_dir / GRID_STATE
    state = read_json(state_path) if state_path.is_file() else {}
    for name, theirs in (("datasets", m.get("datasets")), ("code", grid.get("code_by_dataset")),
                         ("rows_rebuilt", grid.get("rows_rebuilt")), ("rows_retired", grid.get("rows_retired"))):
        state[name] = {**(theirs or {}), **(state.get(name) or {})}
    write_json(state_path, state)
    if (folder / BUILD_TIMES).is_file():
        times = _read_times(folder / BUILD_TIMES)
        if (run_dir / BUILD_TIMES).is_file():
            kept = _read_times(run_dir / BUILD_TIMES)
            seen = set(zip(kept["dataset"], kept["started"], strict=True))
            times = pd.concat([times[[(d, t) not in seen for d, t in zip(times["dataset"], times["started"], strict=True)]],
                               kept], ignore_index=True)
        write_csv(run_dir / BUILD_TIMES, times)
    built = sorted({r.dataset for r in records}, key=g.labels.index)
    log(f"{g.title}: {len(records)} finished jobs of {', '.join(built)} taken from {folder} (its tables; "
        f"jobs whose key no longer matches run again when their own part does)")
    return len(records)


def _run_part(g: Grid, run_dir: Path, out: Path, part: str, executor: Callable[[], Any],
              command: list[str] | None, progress: bool, log: Callable[[str], None],
              rerun: list[str] | None = None, retire: list[str] | None = None,
              render_tables: bool = True) -> dict[str, Any]:
    """One dataset's jobs of one grid into its run folder (with ``rerun``, only those rows'),
    then the merged manifest and tables and the rendered folder; the session's times are
    appended to build_times.csv."""
    started, load0, t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.getloadavg()[0], time.perf_counter()
    ex = executor()
    where = describe_executor(ex)
    session = {"dataset": part, "parallel_jobs": where.get("jobs", 1), "threads": where.get("threads_per_job"),
               "cores": _cores(), "load_start": round(load0, 2), "started": started,
               "command": " ".join(command or []), "rerun": ",".join(rerun or []), "retired": ",".join(retire or [])}
    try:
        harness.run(_part_prep(g, part), run_dir, command=command, progress=progress, executor=ex, log=log,
                    rerun=set(rerun) if rerun else None, run_none=bool(retire),
                    tables="none" if retire else "each")  # _close writes them
    except BaseException as exc:
        session["status"] = "interrupted"
        _close(g, run_dir, out, session, t0, log, reason=exc)
        raise
    session["status"] = "complete"
    return _close(g, run_dir, out, session, t0, log, render_tables=render_tables)


def _cores() -> int:
    """The CPUs this process may run on (its affinity, which a container or taskset narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _part_prep(g: Grid, part: str) -> Prepared:
    """The grid's configuration with only ``part``'s data loaded: its jobs are the part's, its
    job keys and hash those of the whole grid."""
    sub = replace(g.config, datasets=[d for d in g.config.datasets if d.label == part])
    loaded = prepare(sub, checked=g.checked)
    return Prepared(g.config, loaded.plans, loaded.metric_classes, loaded.data, loaded.sources)


def _close(g: Grid, run_dir: Path, out: Path, session: dict[str, Any], t0: float, log: Callable[[str], None],
           reason: BaseException | None = None, render_tables: bool = True) -> dict[str, Any]:
    """After a part (finished or stopped): the counts of its session, the merged manifest, the
    tables, the rendered folder, and the session's row in build_times.csv. Never masks ``reason``."""
    try:
        m = read_json(run_dir / "manifest.json")
        counts = m.get("jobs") or {}
        session.update(jobs_run=counts.get("run"), jobs_reused=counts.get("reused"), jobs_failed=counts.get("failed"),
                       code=m.get("code_version"))
        _merge_manifest(g, run_dir, m, session["dataset"], reason, session["rerun"], session.get("retired", ""))
        if render_tables or reason is not None:
            render(run_dir, g, out)
    except Exception as err:
        if reason is None:
            raise
        log(f"note: the tables after the interrupted part could not be rebuilt: {err}")
    finally:
        session.update(wall_s=round(time.perf_counter() - t0, 1), load_end=round(os.getloadavg()[0], 2),
                       finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _append_time(g, run_dir, out, session)
    return session


def _read_times(path: Path) -> pd.DataFrame:
    """build_times.csv, its ``code`` (a commit's hex digits) kept as text: type inference would
    turn one of digits into a number and drop its leading zeros (see results.read_jobs_csv)."""
    return pd.read_csv(path, dtype={"code": str})


def _append_time(g: Grid, run_dir: Path, out: Path, session: dict[str, Any]) -> None:
    """build_times.csv (one row per part session) and the manifest's grid entry, then the copy in
    the rendered folder."""
    path = run_dir / BUILD_TIMES
    row = pd.DataFrame([session]).reindex(columns=TIME_COLUMNS)
    rows = pd.concat([_read_times(path), row], ignore_index=True) if path.is_file() else row
    write_csv(path, rows)
    m = read_json(run_dir / "manifest.json")
    m.setdefault("grid", {})["build_times"] = _time_summary(rows)
    write_json(run_dir / "manifest.json", m)
    folder = out / g.folder
    if folder.is_dir():
        for name in ("manifest.json", BUILD_TIMES):
            shutil.copyfile(run_dir / name, folder / name)


def _time_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """Per dataset, the time of its latest build: the seconds of the sessions that ran its jobs since
    the last one that found none of them done (``jobs_reused`` 0: a first build, or a rebuild after
    the part's job records were removed), their count, how many builds the file records, and
    whether the last session finished. A rebuild replaces the earlier build's time rather than
    adding to it: the part's time is what one build of it costs. A session that ran no job (a
    finished part asked for again) adds nothing."""
    out: dict[str, Any] = {}
    if "rerun" in rows:  # a session that rebuilt some rows only is not a build of the part
        rows = rows[rows["rerun"].fillna("").astype(str).str.strip() == ""]
    for d, g in rows.groupby("dataset", sort=False):
        run = pd.to_numeric(g["jobs_run"], errors="coerce").fillna(0).to_numpy()
        reused = pd.to_numeric(g["jobs_reused"], errors="coerce").fillna(0).to_numpy()
        starts = [i for i in range(len(g)) if reused[i] == 0 and run[i] > 0]
        first = starts[-1] if starts else 0
        latest = g.iloc[first:][run[first:] > 0]
        out[str(d)] = {"wall_s": round(float(pd.to_numeric(latest["wall_s"], errors="coerce").sum()), 1),
                       "sessions": len(latest), "builds": max(1, len(starts)),
                       "last_status": str(g["status"].iloc[-1])}
    out["all"] = {"wall_s": round(sum(v["wall_s"] for v in out.values()), 1)}
    return out


def _merge_manifest(g: Grid, run_dir: Path, m: dict, part: str, reason: BaseException | None,
                    rerun: str = "", retired: str = "") -> None:
    """The manifest of the whole grid after a part: every built dataset's entry and the code that
    built it (``rows_rebuilt``: rows a ``--rerun`` rebuilt at later code, per dataset), the grid's
    jobs (missing ones listed: status ``interrupted`` until none is missing), budget and tuning."""
    state_path = run_dir / GRID_STATE
    state = read_json(state_path) if state_path.is_file() else {}
    state.setdefault("datasets", {}).update(m.get("datasets") or {})
    rebuilt = state.setdefault("rows_rebuilt", {})
    if retired:  # nothing ran: the code that built each row stays; the retired rows leave the record
        state.setdefault("code", {})
        for label in retired.split(","):
            state.setdefault("rows_retired", {})[label] = m.get("code_version")
            for rows in rebuilt.values():
                rows.pop(label, None)
    elif rerun and part in state.setdefault("code", {}):
        for label in rerun.split(","):
            rebuilt.setdefault(part, {})[label] = m.get("code_version")
    else:  # a whole build of the part (or its first): one code for every row
        state.setdefault("code", {})[part] = m.get("code_version")
        rebuilt.pop(part, None)
    write_json(state_path, state)
    m["datasets"] = {d: state["datasets"][d] for d in g.labels if d in state["datasets"]}
    done, failed, missing = _job_states(g, run_dir)
    not_built = [d for d in g.labels if any(j["dataset"] == d for j in missing)]
    m["jobs"] = {"total": len(g.job_ids()), "finished": done, "failed": failed, "missing": len(missing)}
    m["grid"] = {**(m.get("grid") or {}), "kind": g.kind, "datasets": g.labels, "seeds": g.config.seeds,
                 "budget": g.config.budget, "preset": g.config.preset, "tuning": g.tuning,
                 "code_by_dataset": {d: state["code"][d] for d in g.labels if d in state["code"]},
                 "rows_rebuilt": {d: state["rows_rebuilt"][d] for d in g.labels if state["rows_rebuilt"].get(d)},
                 "rows_retired": {r: c for r, c in (state.get("rows_retired") or {}).items()
                                  if r not in g.config.generator_labels},
                 "built": [d for d in g.labels if d not in not_built], "not_built": not_built}
    if missing:
        why = [] if reason is None else [_describe(reason)]
        why.append(f"built in parts; not yet built: {', '.join(not_built)} (the same bench leaderboard command "
                   f"with --part {not_built[0]} builds {'it' if len(not_built) == 1 else 'the first'})")
        m.update(status="interrupted", interrupted="; ".join(why),
                 missing_jobs=[{"generator": j["generator"], "dataset": j["dataset"], "seed": j["seed"]}
                               for j in missing])
    else:
        m["status"] = "complete"
        m.pop("interrupted", None)
        m.pop("missing_jobs", None)
    write_json(run_dir / "manifest.json", m)
    write_tables(run_dir, g.labels, g.config.generator_labels)


def _describe(exc: BaseException) -> str:
    if type(exc) is KeyboardInterrupt:
        return "interrupted (Ctrl-C)"
    return f"interrupted ({type(exc).__name__}: {exc})" if str(exc) else f"interrupted ({type(exc).__name__})"


def _job_states(g: Grid, run_dir: Path) -> tuple[int, int, list[dict[str, Any]]]:
    """(jobs finished ok, jobs failed, jobs with no readable record) over the whole grid."""
    done = failed = 0
    missing = []
    for gen, d, s, jid in g.job_ids():
        path = run_dir / "jobs" / f"{jid}.json"
        try:
            status = read_json(path).get("status") if path.is_file() else None
        except (OSError, ValueError):
            status = None
        if status == "ok":
            done += 1
        elif status is not None:
            failed += 1
        else:
            missing.append({"generator": gen, "dataset": d, "seed": s})
    return done, failed, missing


def render(run_dir: Path, g: Grid, out: Path) -> Path:
    """The grid's committed folder ``<out>/<folder>``: the per-block tables, the manifest and the
    build times copied from the run folder (aggregates: no record of a patient), the report
    rendered there; the equal-budget grid's headline files also at ``<out>``."""
    from bench.report import build_report

    folder = out / g.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, folder / name)
    build_report(folder)
    if g.kind == EQUAL:
        for name in TOP:
            shutil.copyfile(folder / name, out / name)
    return folder
