"""The comparison of a rerun with the baseline: the scores that moved beyond their tolerance.

The last step of ``bench check`` (bench.check.command.check): what the rule expects
(bench.check.rule.expect, from the baseline's stored values) against the rerun's per-seed values
(bench.check.grid.run_grid); the result and its table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.check.grid import GridScores
from bench.check.rule import Expectations


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
    """A check's outcome: made whole once the comparison is done, so that reading it (``passed``,
    ``table``) calls back into nothing."""

    moved: list[Moved]
    checked: int
    skipped: list[str] = field(default_factory=list)  # checkable in the baseline, not at these seeds
    excluded: int = 0  # left out by rule in the baseline
    job_errors: list[str] = field(default_factory=list)
    run_dir: str = "(temporary)"
    grid: str = ""
    passed: bool = field(init=False)
    table: str = field(init=False)  # format_moved(moved): the failure table

    def __post_init__(self) -> None:
        self.passed = not self.moved and not self.job_errors
        self.table = format_moved(self.moved)


def compare(expected: Expectations, now: GridScores, grid: str = "", run_dir: str = "(temporary)") -> CheckResult:
    """The scores whose mean now, over their generator's seeds compared, left their tolerance;
    a score missing now for one of those seeds is listed with why (the notes of its rows, or a
    failed job). ``now`` holds the rerun's per-seed values (bench.check.grid.run_grid)."""
    moved = []
    for x in expected.usable:
        values = now.values.get(x.key)
        if values is None or set(x.seeds) - set(values):
            why = now.notes.get(x.key, "") or "not computed (job failed or metric missing)"
            moved.append(Moved(*x.key, x.goal, x.mean, None, x.tolerance, why))
            continue
        value = float(np.mean([values[s] for s in x.seeds]))
        if abs(value - x.mean) > x.tolerance:
            moved.append(Moved(*x.key, x.goal, x.mean, value, x.tolerance))
    moved.sort(key=lambda m: (m.dataset, m.generator, -m.tolerances, m.metric))
    return CheckResult(moved=moved, checked=len(expected.usable), skipped=expected.skipped,
                       excluded=expected.excluded, job_errors=now.job_errors, run_dir=run_dir, grid=grid)


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
