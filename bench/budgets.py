"""Equal budgets and the tuning policy, as a run's tables state them (issue 25).

Lucic et al. (2018) compare generators at the same computational budget and the same tuning
budget: at unequal budgets a difference says more about the schedule than about the model. A run
with ``--budget N`` (``RunConfig.budget``) stops every neural generator after ``N`` optimiser
updates, all its networks together (its ``max_updates``). Such a run's headline carries no ``‡``
for a schedule below the published one, since every contestant is cut alike by construction;
instead a table under the headline gives, per dataset, the updates each generator ran and their
share of its published schedule (of ehrbench's own default where none is published). Updates
run can differ from ``N`` where a generator counts in whole units (CTGAN and TVAE: whole epochs;
the GANs: whole iterations of ``d_steps`` critic updates and one generator update; a warm-up
phase at least once): the table shows what ran, so an uneven budget cannot hide.

The tuning policy is the leaderboard's (``bench.leaderboard`` writes it into the manifest's
``grid`` entry); a plain run states none, since what its options mean is up to whoever chose them.
"""

from __future__ import annotations

import math

import pandas as pd

from bench.schedules import COLUMN as FRACTION_COLUMN
from bench.schedules import OWN_DEFAULT, basis_of

UPDATES_COLUMN = "diag_updates"
OWN_MARK = "*"


def budget_of(manifest: dict) -> int | None:
    """The run's equal budget (optimiser updates per neural generator), None when it has none."""
    budget = (manifest.get("config") or {}).get("budget")
    return int(budget) if budget else None


def policy_text(manifest: dict) -> str:
    """The caption's sentences on budgets and tuning: the equal budget of a ``--budget`` run,
    the published schedules of the leaderboard's second grid, and the leaderboard's tuning policy
    (each '' where it does not apply)."""
    grid = manifest.get("grid") or {}
    parts = []
    budget = budget_of(manifest)
    if budget:
        parts.append(
            f"Equal budgets (Lucic et al. 2018): every neural contestant stopped after {budget:,} optimiser "
            "updates (all its networks together) on every dataset; no ‡ in the headline, since every row is cut "
            "to the same budget: the table under it gives the updates each actually ran (a generator counting "
            "whole epochs or iterations can differ) and their share of its published schedule.")
    elif grid.get("kind") == "published":
        parts.append(
            "PUBLISHED SCHEDULES: each generator at its full published schedule (no equal budget); these rows "
            "show what the published training buys, not a comparison at equal cost with the leaderboard's.")
    if grid.get("tuning"):
        parts.append(f"Tuning: {grid['tuning']}")
    code = grid.get("code_by_dataset") or {}
    if len(set(code.values())) > 1:
        parts.append("Parts built by different code (their numbers may differ for that reason alone): "
                     + "; ".join(f"{d} {c}" for d, c in code.items()) + ".")
    rebuilt: dict[tuple[str, str], list[str]] = {}  # (rows, code) -> datasets
    for d, rows in (grid.get("rows_rebuilt") or {}).items():
        by_code: dict[str, list[str]] = {}
        for row, c in rows.items():
            by_code.setdefault(c, []).append(row)
        for c, names in by_code.items():
            rebuilt.setdefault((", ".join(names), c), []).append(d)
    if rebuilt:
        parts.append("Rows rebuilt by later code than the rest of their part (bench leaderboard --rerun, after a "
                     "change that moves only their numbers): "
                     + "; ".join(f"{rows} by {c} on {', '.join(ds)}" for (rows, c), ds in rebuilt.items()) + ".")
    retired = grid.get("rows_retired") or {}
    if retired:
        parts.append("Rows retired from this leaderboard, nothing else rerun (bench leaderboard --retire; "
                     "docs/generators.md says why): " + ", ".join(f"{r} by {c}" for r, c in retired.items()) + ".")
    return " ".join(parts)


def _share(x: float) -> str:
    p = 100.0 * x
    return f"{p:.0f}%" if p >= 10 else f"{p:.1f}%" if p >= 1 else f"{p:.2g}%"


def _cell(g: pd.DataFrame) -> str:
    """'updates (share)' of one generator on one dataset; a range where its seeds differ."""
    frac = pd.to_numeric(g[FRACTION_COLUMN], errors="coerce").dropna()
    ups = pd.to_numeric(g[UPDATES_COLUMN], errors="coerce").dropna() if UPDATES_COLUMN in g else pd.Series([])
    if frac.empty:
        return ""
    lo, hi = float(frac.min()), float(frac.max())
    share = _share(lo) if math.isclose(lo, hi, rel_tol=1e-3) else f"{_share(lo)}–{_share(hi)}"
    if ups.empty:
        return share
    u_lo, u_hi = int(ups.min()), int(ups.max())
    run = f"{u_lo:,}" if u_lo == u_hi else f"{u_lo:,}–{u_hi:,}"
    return f"{run} ({share})"


def fraction_table(jobs: pd.DataFrame | None, budget: int, generators: list[str] | None = None,
                   basis: dict[str, str] | None = None) -> str:
    """Markdown: per generator (rows) and dataset (columns) the optimiser updates its finished jobs
    ran and their share of its published schedule, under a ``budget`` run's headline. Generators
    that report no schedule (the references) are left out."""
    if jobs is None or jobs.empty or FRACTION_COLUMN not in jobs.columns:
        return ""
    ok = jobs[jobs["status"] == "ok"] if "status" in jobs.columns else jobs
    ok = ok[pd.to_numeric(ok[FRACTION_COLUMN], errors="coerce").notna()]
    if ok.empty:
        return ""
    datasets = list(dict.fromkeys(ok["dataset"].astype(str)))
    present = list(dict.fromkeys(ok["generator"].astype(str)))
    order = [g for g in (generators or []) if g in present] + sorted(g for g in present if g not in (generators or []))
    lines = [f"Updates run at the equal budget of {budget:,} (share of the published schedule):", "",
             "| generator | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    own = False
    for gen in order:
        mine = ok[ok["generator"].astype(str) == gen]
        cells = [_cell(mine[mine["dataset"].astype(str) == d]) for d in datasets]
        mark = ""
        if basis_of(gen, basis) == OWN_DEFAULT:
            mark, own = f" {OWN_MARK}", True
        lines.append(f"| {gen}{mark} | " + " | ".join(cells) + " |")
    if own:
        lines += ["", f"{OWN_MARK} no published schedule: the share is of ehrbench's own default schedule."]
    return "\n".join(lines) + "\n"
