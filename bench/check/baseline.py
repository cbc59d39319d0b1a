"""The baseline file: the grid, per-seed scores, the rule's tolerances, and why it was written.

Format 2 (this one) stores every seed's value, so a check of part of the seeds compares like with
like; the seeds some generators run beyond the grid's (``more_seeds``, optional) and the part of
the grid some run on (``scopes``: their seeds, datasets and metric families, optional); the rule's
parameters and text; the scores left out by rule with the reason; and a history of updates
(date, reason, commit, rule). Format 1 files (a mean and a ``3 x std`` tolerance per
score, ehrbench before the rule) are refused with the command that rebuilds them.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from bench import harness
from bench.check.grid import GridScores, run_grid
from bench.check.rule import Entry, Rule, derive
from bench.core.errors import OptionError
from bench.core.io import read_json, write_json
from bench.provenance import code_version, git_commit, package_versions
from metrics import registry as metric_registry
from metrics.base import Score

FORMAT = 2
DEFAULT_BASELINE = Path("results/baseline/quick.json")


class StaleBaseline(OptionError):
    """A baseline of an older format: readable enough to say so, not to check against."""


def seeds_of(cfg: harness.RunConfig, more: dict[str, list[int]] | None = None,
             scopes: Mapping[str, Mapping[str, list]] | None = None) -> dict[str, list[int]]:
    """Every generator's seeds in a grid: its scope's where it has one, else the grid's ``seeds``,
    then any it runs beyond them."""
    more, scopes = more or {}, scopes or {}
    out = {}
    for g in cfg.generator_labels:
        own = [int(s) for s in (scopes.get(g) or {}).get("seeds", cfg.seeds)]
        out[g] = [*own, *(s for s in more.get(g, ()) if s not in own)]
    return out


def check_scopes(cfg: harness.RunConfig, scopes: Mapping[str, Mapping[str, list]], where: str) -> dict[str, dict]:
    """The scopes as stored: each names a generator of the grid and only the grid's datasets and
    metric families, with seeds, datasets and metrics as lists; else an error naming ``where``."""
    families = [m.name for m in metric_registry.resolve(cfg.metrics or None)]
    allowed = {"seeds": None, "datasets": cfg.dataset_labels, "metrics": families}
    out = {}
    for g, scope in scopes.items():
        if g not in cfg.generator_labels:
            raise OptionError(f"{where}: scopes name {g!r}, which is not among its generators "
                              f"({', '.join(cfg.generator_labels)})")
        if not isinstance(scope, Mapping) or set(scope) - set(allowed):
            raise OptionError(f"{where}: the scope of {g!r} must map seeds, datasets and metrics to lists, got {scope!r}")
        for key, values in scope.items():
            if not isinstance(values, list | tuple) or not values:
                raise OptionError(f"{where}: the scope of {g!r} has no {key} (expected a non-empty list)")
            bad = [v for v in values if allowed[key] is not None and v not in allowed[key]]
            if bad:
                raise OptionError(f"{where}: the scope of {g!r} names {key} {bad} outside the grid's "
                                  f"({', '.join(allowed[key])})")
        out[str(g)] = {k: [int(v) for v in vs] if k == "seeds" else [str(v) for v in vs] for k, vs in scope.items()}
    return out


def score_specs(metric_names: list[str]) -> dict[str, Score]:
    """Every score of the grid's metrics by name: its declared range and label-blind value."""
    return {s.name: s for cls in metric_registry.resolve(metric_names or None) for s in cls.scores}


def entries_from(now: GridScores, specs: dict[str, Score]) -> list[Entry]:
    """One entry per (dataset, generator, score) of a rerun: its finite per-seed values, and the
    notes of the seeds without one as the reason."""
    entries = []
    for key, values in now.values.items():
        ds, gen, metric = key
        spec = specs.get(metric)
        lo, hi = (float(spec.lower), float(spec.upper)) if spec else (-math.inf, math.inf)
        blind = float(spec.blind) if spec and spec.blind is not None else None
        entries.append(Entry(dataset=ds, generator=gen, metric=metric, goal=now.goals[key], lower=lo, upper=hi,
                             values=dict(values), reason=now.notes.get(key, ""), blind=blind))
    return entries


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The rule as the file stores it: its parameters and its text."""
    return {**asdict(rule), "text": rule.describe()}


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    return Rule(**{f.name: data[f.name] for f in fields(Rule) if f.name in data})


def entry_to_dict(e: Entry, rule: Rule) -> dict[str, Any]:
    """A score as the file stores it: per-seed values and what the rule made of them."""
    finite = bool(e.values) and not e.reason.startswith("missing")
    return {
        "dataset": e.dataset, "generator": e.generator, "metric": e.metric, "goal": e.goal,
        "lower": _num(e.lower), "upper": _num(e.upper), "blind": e.blind,
        "values": {str(s): v for s, v in sorted(e.values.items())},
        "mean": e.mean() if finite else None,
        "std": _num(e.std) if finite else None,
        "t": _num(e.t), "cap": e.cap, "cap_basis": e.cap_basis,
        "tolerance": e.tolerance(rule) if finite and e.cap is not None else None,
        "checked": e.checked, "reason": e.reason,
    }


def entry_from_dict(d: Mapping[str, Any]) -> Entry:
    return Entry(
        dataset=d["dataset"], generator=d["generator"], metric=d["metric"], goal=d["goal"],
        lower=_inf(d.get("lower"), -math.inf), upper=_inf(d.get("upper"), math.inf),
        values={int(s): float(v) for s, v in d["values"].items()},
        t=float(d["t"]) if d.get("t") is not None else math.nan,
        cap=None if d.get("cap") is None else float(d["cap"]), cap_basis=d.get("cap_basis", ""),
        checked=bool(d["checked"]), reason=d.get("reason", ""),
        blind=None if d.get("blind") is None else float(d["blind"]),
    )


def kept_entry(d: Mapping[str, Any]) -> Entry:
    """A stored score as it was before the rule ran on it, to run the rule again: the rule's
    verdict is dropped, and a stored "missing for seeds ...: " prefix (the rule's own) is taken off
    the reason the run gave, so that applying the rule again writes it once."""
    e = entry_from_dict(d)
    e.checked = False
    e.reason = re.sub(r"^missing for seeds \[[^\]]*\](: )?", "", e.reason) if e.reason.startswith("missing for seeds") else ""
    return e


def _num(x: float | None) -> float | str | None:
    """JSON has no inf or nan: store them as text."""
    if x is None or math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def _inf(x: Any, default: float) -> float:
    return default if x is None else float(x)


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
                  jobs: int = 1, more_seeds: dict[str, list[int]] | None = None, keep: bool = False,
                  scopes: Mapping[str, Mapping[str, list]] | None = None, refresh: list[str] | None = None) -> dict:
    """Run the grid, apply the rule and write the baseline to ``path`` (atomically).

    ``refresh`` (generator labels of ``previous``'s grid, anchors excluded): run only their jobs
    and keep every other generator's per-seed values from ``previous`` as they are, then apply
    the rule to the whole again. For a change that moves only those generators' numbers: a whole
    rebuild on another machine moves every generator's values by float noise and can move a score
    across the rule's cap for reasons that have nothing to do with the change.

    ``more_seeds``: seeds some generators (by label) run beyond ``cfg.seeds``; ``scopes``: the
    seeds, datasets and metric families of the generators that run on part of the grid
    (bench.check.grid.CI_SCOPES). ``keep``: ``work``
    outlives the call (``--keep``), so the runs' tables are rendered there once."""
    rule = rule or Rule()
    # the families by name, the default suite spelled out: the stored grid must not follow a
    # later change of the default suite
    cfg = replace(cfg, metrics=[m.name for m in metric_registry.resolve(cfg.metrics or None)])
    more = {g: [s for s in ss if s not in cfg.seeds] for g, ss in (more_seeds or {}).items()
            if g in cfg.generator_labels}
    more = {g: ss for g, ss in more.items() if ss}
    scopes = check_scopes(cfg, scopes or {}, "--update")
    seeds = seeds_of(cfg, more, scopes)
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
    run_cfg, run_scopes = cfg, scopes
    if refresh:
        run_cfg = replace(cfg, generators=[g for g in cfg.generators if g.label in refresh])
        run_scopes = {g: sc for g, sc in scopes.items() if g in refresh}
    now = run_grid(run_cfg, {g: seeds[g] for g in run_cfg.generator_labels}, work, progress, jobs, keep=keep,
                   scopes=run_scopes)
    failed = now.jobs[now.jobs["status"] != "ok"]
    if len(failed):
        first = failed.iloc[0]
        raise OptionError(f"--update: {len(failed)} job(s) failed, e.g. {first['generator']} / {first['dataset']} / "
                          f"seed {first['seed']}: {first['error']}; nothing written to {path}")
    fresh = entries_from(now, score_specs(cfg.metrics))
    if refresh:
        assert previous is not None
        kept = [kept_entry(d) for d in previous["scores"] if d["generator"] not in refresh]
        fresh = kept + fresh
    entries = derive(fresh, seeds, rule)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    update = {
        "date": created, "reason": reason.strip(), "commit": state["commit"],
        **({"refreshed": list(refresh)} if refresh else {}),
        "dirty": state["dirty"], "forced": bool(force), "ehrbench_commit": git_commit(),
        "code_version": code_version(), "rule": rule.describe(),
    }
    history = list((previous or {}).get("history", [])) + [update]
    baseline = {
        "format": FORMAT,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "save_synthetic"},
        # seeds a generator runs beyond config.seeds (by label): a high-variance one gets more
        **({"more_seeds": more} if more else {}),
        # generators that run on part of the grid: their own seeds, datasets and metric families
        **({"scopes": scopes} if scopes else {}),
        "rule": rule_to_dict(rule),
        # how the grid ran: a check reruns it the same way by default (same threads per job)
        "execution": {"jobs": jobs, "threads_per_job": 1 if jobs > 1 else None},
        "created": created,
        "reason": update["reason"],
        "commit": state["commit"],
        "code_version": code_version(),
        "packages": package_versions(),
        "history": history,
        "excluded": [f"{e.dataset} / {e.generator} / {e.metric}: {e.reason}" for e in entries if not e.checked],
        "scores": [entry_to_dict(e, rule) for e in entries],
    }
    write_json(path, baseline)
    baseline["_run_dirs"] = [str(d) for d in now.run_dirs]
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
        rule = rule_from_dict(data["rule"])
        entries = [entry_from_dict(s) for s in data["scores"]]
        more = {str(g): [int(s) for s in ss] for g, ss in (data.get("more_seeds") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OptionError(f"baseline {path} is malformed: {type(exc).__name__}: {exc}") from None
    unknown = sorted(set(more) - set(cfg.generator_labels))
    if unknown:
        raise OptionError(f"baseline {path} is malformed: more_seeds names {unknown[0]!r}, which is not among its "
                          f"generators ({', '.join(cfg.generator_labels)})")
    data["_config"], data["_rule"], data["_entries"] = cfg, rule, entries
    data["_scopes"] = check_scopes(cfg, data.get("scopes") or {}, f"baseline {path} is malformed")
    data["_seeds"] = seeds_of(cfg, more, data["_scopes"])  # every generator's seeds
    return data


def dwp_leads(baseline: dict, score: str = "dwpred_auroc_syn") -> dict[tuple[str, str], float]:
    """Per (dataset, contestant): its mean ``score`` minus independent's. A contestant that does
    not lead learned no joint structure the check could see it lose."""
    means = {(s["dataset"], s["generator"]): s["mean"] for s in baseline["scores"]
             if s["metric"] == score and s["mean"] is not None}
    return {(d, g): m - means[(d, "independent")] for (d, g), m in means.items()
            if g not in ("independent", "real-copy") and (d, "independent") in means}
