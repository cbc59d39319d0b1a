"""Rerun (part of) a baseline's grid and list the scores that moved beyond their tolerance."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from bench.check.baseline import entries_from_scores, load_baseline, run_grid, score_ranges
from bench.check.rule import Entry, Rule
from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, parse_spec_list
from metrics import registry as metric_registry


@dataclass
class Moved:
    """A checked score that left its tolerance, or that could not be computed now."""

    dataset: str
    generator: str
    metric: str
    goal: str
    baseline: float
    now: float | None
    tolerance: float
    note: str = ""

    @property
    def tolerances(self) -> float:
        if self.now is None:
            return math.inf
        return abs(self.now - self.baseline) / self.tolerance if self.tolerance > 0 else math.inf

    @property
    def direction(self) -> str:
        if self.now is None:
            return "missing"
        d = self.now - self.baseline
        if self.goal == "maximize":
            return "better" if d > 0 else "worse"
        if self.goal == "minimize":
            return "better" if d < 0 else "worse"
        return "changed"


@dataclass
class CheckResult:
    moved: list[Moved]
    checked: int
    skipped: list[str] = field(default_factory=list)  # checkable in the baseline, not at these seeds
    excluded: int = 0  # left out by rule in the baseline
    job_errors: list[str] = field(default_factory=list)
    run_dir: str = "(temporary)"
    grid: str = ""

    @property
    def passed(self) -> bool:
        return not self.moved and not self.job_errors


def select_generators(stored: list[str], wanted: str | None, option: str = "--generators",
                      grid: str = "the baseline's grid") -> list[str]:
    """Canonical labels (options sorted, as results name them) of the stored generators named,
    each by its name or its full spec; a name outside ``grid`` is an error of ``option``."""
    stored = [s.label for s in parse_spec_list(",".join(stored))]
    if not wanted:
        return stored
    chosen = []
    for token in (t.strip() for t in _split_specs(wanted)):
        hit = [g for g in stored if g == token or g.partition(":")[0] == token]
        if not hit:
            raise OptionError(f"{option}: {token!r} is not in {grid}; its generators: " + ", ".join(stored))
        chosen += [g for g in hit if g not in chosen]
    return chosen


def _select_datasets(stored: list[str], wanted: str | None) -> list[str]:
    if not wanted:
        return list(stored)
    chosen = []
    for spec in DatasetSpec.parse_list(wanted):
        hit = [d for d in stored if d == spec.label or (not spec.options and d.partition(":")[0] == spec.name)]
        if not hit:
            raise OptionError(f"--datasets: {spec.label!r} is not in the baseline's grid; its datasets: "
                              + ", ".join(stored))
        chosen += [d for d in hit if d not in chosen]
    return chosen


def _split_specs(text: str) -> list[str]:
    return [s.label for s in parse_spec_list(text)]


def _select_metrics(stored: list[str], wanted: str | None) -> tuple[list[str], set[str] | None]:
    """Families to run and, when score names were given, the scores to compare."""
    if not wanted:
        return list(stored), None
    families: list[str] = []
    scores: set[str] | None = set()
    owner = {s.name: cls.name for cls in metric_registry.resolve(stored or None) for s in cls.scores}
    whole = set()
    for token in (t.strip() for t in wanted.split(",") if t.strip()):
        if token in owner.values():
            fam = token
            whole.add(fam)
        elif token in owner:
            fam = owner[token]
            scores.add(token)
        else:
            raise OptionError(f"--metrics: {token!r} is neither a metric family nor a score of the baseline's "
                              f"grid; families: {', '.join(sorted(set(owner.values())))}")
        if fam not in families:
            families.append(fam)
    scores |= {s for s, fam in owner.items() if fam in whole}
    return families, scores


def check(path: Path, generators: str | None = None, seeds: list[int] | None = None,
          datasets: str | None = None, metrics: str | None = None, work: Path | None = None,
          progress: bool = True, jobs: int | None = None) -> CheckResult:
    """Rerun the baseline's grid, or the part named, and compare with the rule's tolerances.

    ``jobs``: worker processes (one thread each); None reruns the grid as the baseline ran it,
    1 runs it in this process (where a test's monkeypatched fault reaches the jobs)."""
    base = load_baseline(path)
    if jobs is None:
        jobs = int((base.get("execution") or {}).get("jobs") or 1)
    cfg, rule = base["_config"], base["_rule"]
    entries: list[Entry] = base["_entries"]
    gens = select_generators(cfg.generator_labels, generators)
    stored: dict[str, list[int]] = base["_seeds"]
    if seeds:
        every = sorted({s for g in gens for s in stored[g]})
        unknown = sorted(set(seeds) - set(every))
        if unknown:
            raise OptionError(f"--seeds: {unknown} not in the baseline's seeds {every}"
                              + (f" (of {', '.join(gens)})" if generators else ""))
    # each generator at its own seeds, or at those of them asked for; one without any of them sits out
    own = {g: [s for s in (seeds or stored[g]) if s in stored[g]] for g in gens}
    own = {g: ss for g, ss in own.items() if ss}
    gens = [g for g in gens if g in own]
    dsets = _select_datasets(cfg.dataset_labels, datasets)
    families, only = _select_metrics(cfg.metrics, metrics)
    sub = replace(cfg, generators=gens, datasets=dsets, seeds=sorted({s for ss in own.values() for s in ss}),
                  metrics=families)
    wanted = [e for e in entries if e.generator in gens and e.dataset in dsets and (only is None or e.metric in only)]
    checked = [e for e in wanted if e.checked]
    result = CheckResult(moved=[], checked=0, excluded=sum(not e.checked for e in wanted),
                         grid=_describe_grid(gens, dsets, own))
    usable = []
    for e in checked:
        why = e.usable(rule, own[e.generator])
        if why:
            result.skipped.append(f"{e.dataset} / {e.generator} / {e.metric}: {why} at {len(own[e.generator])} seeds")
        else:
            usable.append(e)
    result.checked = len(usable)
    if not usable:
        raise OptionError(f"nothing to check: none of the {len(wanted)} selected scores of {path} is checked by the "
                          f"rule at these seeds ({result.excluded} excluded in the baseline, "
                          f"{len(result.skipped)} too noisy at these seeds); select more seeds or other scores")
    with tempfile.TemporaryDirectory(prefix="ehrbench-check-") as tmp:
        scores, job_table, run_dirs = run_grid(sub, work or Path(tmp), progress, jobs, own)
        if work:
            result.run_dir = ", ".join(str(d) for d in run_dirs)
    result.job_errors = [f"{r.generator} / {r.dataset} / seed {r.seed}: {r.error}"
                         for r in job_table.itertuples() if r.status != "ok"]
    now = {e.key: e for e in entries_from_scores(scores, score_ranges(families))}
    result.moved = compare(usable, now, own, rule)
    return result


def _describe_grid(gens: list[str], dsets: list[str], seeds: dict[str, list[int]]) -> str:
    """``N generators x M datasets x seeds [...]``, and the generators that run other seeds."""
    common = max((seeds[g] for g in gens), key=lambda ss: sum(seeds[g] == ss for g in gens))
    others = [f"{g}: seeds {_span(seeds[g])}" for g in gens if seeds[g] != common]
    return f"{len(gens)} generators x {len(dsets)} datasets x seeds {common}" + (f" ({'; '.join(others)})" if others
                                                                                 else "")


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 else str(seeds)


def compare(entries: list[Entry], now: dict[tuple[str, str, str], Entry], seeds: dict[str, list[int]],
            rule: Rule) -> list[Moved]:
    """The entries whose mean now, over their generator's ``seeds``, left their tolerance."""
    moved = []
    for e in entries:
        mine = seeds[e.generator]
        base_mean, tol = e.mean(mine), e.tolerance(rule, len(mine))
        n = now.get(e.key)
        if n is None or set(mine) - set(n.values):
            why = (n.reason if n is not None else "") or "not computed (job failed or metric missing)"
            moved.append(Moved(*e.key, e.goal, base_mean, None, tol, why))
            continue
        value = n.mean(mine)
        if abs(value - base_mean) > tol:
            moved.append(Moved(*e.key, e.goal, base_mean, value, tol))
    return sorted(moved, key=lambda m: (m.dataset, m.generator, -m.tolerances, m.metric))


def format_moved(moved: list[Moved]) -> str:
    """The failure table: one row per moved score, most tolerances first within a generator."""
    if not moved:
        return ""
    several = len({m.dataset for m in moved}) > 1
    rows = [(*((m.dataset,) if several else ()), m.generator, m.metric, f"{m.baseline:.6g}",
             "-" if m.now is None else f"{m.now:.6g}", f"{m.tolerance:.3g}",
             "inf" if math.isinf(m.tolerances) else f"{m.tolerances:.1f}", m.direction if not m.note else m.note)
            for m in moved]
    head = (*(("dataset",) if several else ()), "generator", "score", "baseline", "now", "tolerance",
            "x tol", "direction")
    width = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, width, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in width)), *(line(r) for r in rows)])


def moved_frame(moved: list[Moved]) -> pd.DataFrame:
    return pd.DataFrame([{**m.__dict__, "tolerances": m.tolerances, "direction": m.direction} for m in moved])
