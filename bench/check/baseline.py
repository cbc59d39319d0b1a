"""The baseline file: the grid, per-seed scores, the rule's tolerances, and why it was written.

Format 2 (this one) stores every seed's value, so a check of part of the seeds compares like with
like; the seeds some generators run beyond the grid's (``more_seeds``, optional); the rule's
parameters and text; the scores left out by rule with the reason; and a history of updates
(date, reason, commit, rule). Format 1 files (a mean and a ``3 x std`` tolerance per
score, ehrbench before the rule) are refused with the command that rebuilds them.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench import harness
from bench.check.rule import Entry, Rule, derive
from bench.core.errors import OptionError
from bench.core.io import read_json, write_json
from bench.core.threads import thread_budget
from bench.provenance import code_version, git_commit, package_versions
from metrics import registry as metric_registry

FORMAT = 2
DEFAULT_BASELINE = Path("results/baseline/quick.json")


class StaleBaseline(OptionError):
    """A baseline of an older format: readable enough to say so, not to check against."""


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """This process and the workers it starts at one thread each, then everything as it was
    (:func:`bench.core.threads.thread_budget`; the workers also get a budget of one)."""
    with thread_budget(1):
        yield


def seeds_of(cfg: harness.RunConfig, more: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """Every generator's seeds in a grid: the grid's ``seeds``, then any it runs beyond them."""
    more = more or {}
    return {g: [*cfg.seeds, *(s for s in more.get(g, ()) if s not in cfg.seeds)] for g in cfg.generator_labels}


def grid_parts(cfg: harness.RunConfig, seeds: dict[str, list[int]]) -> list[harness.RunConfig]:
    """The grid as runs of the harness: one per distinct list of seeds, each with its generators
    (a run crosses every generator with every seed)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for g in cfg.generator_labels:
        if seeds.get(g):
            groups.setdefault(tuple(seeds[g]), []).append(g)
    return [replace(cfg, generators=gens, seeds=list(ss)) for ss, gens in groups.items()]


def run_grid(cfg: harness.RunConfig, work: Path, progress: bool, jobs: int = 1,
             seeds: dict[str, list[int]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Run a grid afresh into new directories under ``work``; its per-seed scores (speed left
    out), its jobs table and the run directories (one per distinct list of seeds).

    ``seeds``: each generator's seeds (default: the configuration's, for all). ``jobs`` 1 runs the
    jobs one after another in this process (a monkeypatched fault then reaches them: the mutant
    tests); above 1, in that many worker processes of one thread each (OpenMP, MKL and OpenBLAS
    pinned before the workers start), so a baseline and its check run the same arithmetic
    whatever the machine's core count.
    """
    from bench.executors import Limits, make_executor

    parts = grid_parts(cfg, seeds or seeds_of(cfg))
    prepared = [harness.prepare(part) for part in parts]  # every part validated before any work
    score_tables, job_tables, run_dirs = [], [], []
    for prep in prepared:
        run_dir = harness.new_run_dir(work, prep.config)
        executor = make_executor("process", jobs=jobs, limits=Limits(None, None), threads=1) if jobs > 1 else None
        with one_thread() if jobs > 1 else contextlib.nullcontext():
            harness.run(prep, run_dir, command=["python", "-m", "bench", "check"], force=True, progress=progress,
                        executor=executor)
        score_tables.append(pd.read_csv(run_dir / "scores.csv"))
        job_tables.append(pd.read_csv(run_dir / "jobs.csv"))
        run_dirs.append(run_dir)
    scores = pd.concat(score_tables, ignore_index=True)
    return scores[scores["category"] != "speed"], pd.concat(job_tables, ignore_index=True), run_dirs


def score_ranges(metric_names: list[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for cls in metric_registry.resolve(metric_names or None):
        for s in cls.scores:
            out[s.name] = (float(s.lower), float(s.upper))
    return out


def entries_from_scores(scores: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> list[Entry]:
    entries = []
    for (ds, gen, metric), g in scores.groupby(["dataset", "generator", "score"], sort=True):
        ok = g[g["value"].notna() & g["value"].map(lambda v: math.isfinite(float(v)) if pd.notna(v) else False)]
        notes = [str(n) for n in g.loc[g["value"].isna(), "note"].dropna().unique()]
        lo, hi = ranges.get(metric, (-math.inf, math.inf))
        entries.append(Entry(
            dataset=ds, generator=gen, metric=metric, goal=str(g["goal"].iloc[0]), lower=lo, upper=hi,
            values={int(s): float(v) for s, v in zip(ok["seed"], ok["value"], strict=True)},
            reason="; ".join(notes)[:200],
        ))
    return entries


def git_state(cwd: Path | None = None, ignore: Path | None = None) -> dict[str, Any]:
    """HEAD and whether tracked files differ from it, in the git work tree of ``cwd`` (the
    project being guarded: ehrbench itself, or a third party's), ``ignore`` (the baseline) aside."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"repo": False, "commit": None, "dirty": []}
        top = Path(git("rev-parse", "--show-toplevel").stdout.strip())
        lines = git("status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {"repo": False, "commit": None, "dirty": []}
    skip = (ignore.resolve() if ignore else None)
    dirty = []
    for line in lines:
        name = line[3:].split(" -> ")[-1].strip().strip('"')
        if skip is None or (top / name).resolve() != skip:
            dirty.append(name)
    return {"repo": True, "commit": head.stdout.strip(), "dirty": dirty}


def make_baseline(cfg: harness.RunConfig, path: Path, work: Path, reason: str, force: bool = False,
                  progress: bool = True, rule: Rule | None = None, previous: dict | None = None,
                  jobs: int = 1, more_seeds: dict[str, list[int]] | None = None) -> dict:
    """Run the grid, apply the rule and write the baseline to ``path`` (atomically).

    ``more_seeds``: seeds some generators (by label) run beyond ``cfg.seeds``."""
    rule = rule or Rule()
    # the families by name, the default suite spelled out: the stored grid must not follow a
    # later change of the default suite
    cfg = replace(cfg, metrics=[m.name for m in metric_registry.resolve(cfg.metrics or None)])
    more = {g: [s for s in ss if s not in cfg.seeds] for g, ss in (more_seeds or {}).items()
            if g in cfg.generator_labels}
    more = {g: ss for g, ss in more.items() if ss}
    seeds = seeds_of(cfg, more)
    if not reason or not reason.strip():
        raise OptionError('--update needs --reason "why the scores are allowed to change" (it is written '
                          "into the baseline)")
    derive([], seeds, rule)  # too few seeds: the rule's error before any work
    state = git_state(ignore=path)
    if not force:
        if not state["repo"]:
            raise OptionError("--update: the current directory is not in a git work tree, so the code that "
                              "makes the baseline cannot be named; commit it in git, or pass --force")
        if state["dirty"]:
            shown = ", ".join(state["dirty"][:5]) + (" ..." if len(state["dirty"]) > 5 else "")
            raise OptionError(f"--update: the git tree has uncommitted changes ({shown}); a baseline must come "
                              "from committed code. Commit them, or pass --force")
    scores, job_table, run_dirs = run_grid(cfg, work, progress, jobs, seeds)
    failed = job_table[job_table["status"] != "ok"]
    if len(failed):
        first = failed.iloc[0]
        raise OptionError(f"--update: {len(failed)} job(s) failed, e.g. {first['generator']} / {first['dataset']} / "
                          f"seed {first['seed']}: {first['error']}; nothing written to {path}")
    entries = derive(entries_from_scores(scores, score_ranges(cfg.metrics)), seeds, rule)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    update = {
        "date": created, "reason": reason.strip(), "commit": state["commit"],
        "dirty": state["dirty"], "forced": bool(force), "ehrbench_commit": git_commit(),
        "code_version": code_version(), "rule": rule.describe(),
    }
    history = list((previous or {}).get("history", [])) + [update]
    baseline = {
        "format": FORMAT,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "save_synthetic"},
        # seeds a generator runs beyond config.seeds (by label): a high-variance one gets more
        **({"more_seeds": more} if more else {}),
        "rule": rule.to_dict(),
        # how the grid ran: a check reruns it the same way by default (same threads per job)
        "execution": {"jobs": jobs, "threads_per_job": 1 if jobs > 1 else None},
        "created": created,
        "reason": update["reason"],
        "commit": state["commit"],
        "code_version": code_version(),
        "packages": package_versions(),
        "history": history,
        "excluded": [f"{e.dataset} / {e.generator} / {e.metric}: {e.reason}" for e in entries if not e.checked],
        "scores": [e.to_dict(rule) for e in entries],
    }
    write_json(path, baseline)
    baseline["_run_dirs"] = [str(d) for d in run_dirs]
    return baseline


def load_baseline(path: Path) -> dict:
    """Read and validate a baseline; ``_config``, ``_rule`` and ``_entries`` hold it parsed."""
    if not path.is_file():
        raise OptionError(f"baseline {path} does not exist; create it with "
                          f'`python -m bench check --update --baseline {path} --reason "..."`')
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise OptionError(f"baseline {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OptionError(f"baseline {path} is malformed: expected a JSON object")
    fmt = data.get("format", 1)
    if fmt != FORMAT:
        raise StaleBaseline(
            f"baseline {path} is format {fmt} (written by an older ehrbench: one mean and a 3 x std tolerance "
            f"per score, no per-seed values); this ehrbench reads format {FORMAT}. Rebuild it from committed "
            f'code: python -m bench check --update --baseline {path} --reason "rebuild under the stated '
            'tolerance rule"')
    try:
        cfg = harness.RunConfig.from_dict(data["config"])  # no val_size: the train/test split it ran on
        rule = Rule.from_dict(data["rule"])
        entries = [Entry.from_dict(s) for s in data["scores"]]
        more = {str(g): [int(s) for s in ss] for g, ss in (data.get("more_seeds") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OptionError(f"baseline {path} is malformed: {type(exc).__name__}: {exc}") from None
    unknown = sorted(set(more) - set(cfg.generator_labels))
    if unknown:
        raise OptionError(f"baseline {path} is malformed: more_seeds names {unknown[0]!r}, which is not among its "
                          f"generators ({', '.join(cfg.generator_labels)})")
    data["_config"], data["_rule"], data["_entries"] = cfg, rule, entries
    data["_seeds"] = seeds_of(cfg, more)  # every generator's seeds
    return data


def dwp_leads(baseline: dict, score: str = "dwpred_auroc_syn") -> dict[tuple[str, str], float]:
    """Per (dataset, contestant): its mean ``score`` minus independent's. A contestant that does
    not lead learned no joint structure the check could see it lose."""
    means = {(s["dataset"], s["generator"]): s["mean"] for s in baseline["scores"]
             if s["metric"] == score and s["mean"] is not None}
    return {(d, g): m - means[(d, "independent")] for (d, g), m in means.items()
            if g not in ("independent", "real-copy") and (d, "independent") in means}
