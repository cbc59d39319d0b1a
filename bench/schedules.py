"""Truncated training schedules, made visible in every table (issue 15).

A neural generator reports ``schedule_fraction`` in its diagnostics: the epochs (or optimiser
updates) it ran over those of its published schedule. The job record carries it to ``jobs.csv``
as ``diag_schedule_fraction``. A generator whose jobs on a dataset ran below 100% of the published
schedule is marked ``‡`` in every table of that dataset, with a footnote saying how much it ran;
a generator that does not report the diagnostic (the baselines, anything without a schedule) gets
no mark: nothing is claimed for it either way.
"""

from __future__ import annotations

import math

import pandas as pd

SCHEDULE_MARK = "‡"
LATEX_SCHEDULE_MARK = r"$\ddagger$"
COLUMN = "diag_schedule_fraction"
FULL = 1.0 - 1e-9  # at or above this fraction a schedule counts as complete


def schedule_fractions(jobs: pd.DataFrame | None) -> dict[tuple[str, str], tuple[float, float]]:
    """(dataset, generator) -> (lowest, highest) schedule fraction over its finished jobs.

    Only generators whose finished jobs report the diagnostic appear; failed jobs do not count.
    """
    if jobs is None or jobs.empty or COLUMN not in jobs.columns:
        return {}
    ok = jobs if "status" not in jobs.columns else jobs[jobs["status"] == "ok"]
    frac = pd.to_numeric(ok[COLUMN], errors="coerce")
    ok = ok.assign(_f=frac).dropna(subset=["_f"])
    out = {}
    for (dataset, generator), g in ok.groupby(["dataset", "generator"], sort=False):
        out[(str(dataset), str(generator))] = (float(g["_f"].min()), float(g["_f"].max()))
    return out


def truncated(fractions: dict[tuple[str, str], tuple[float, float]], dataset: str) -> dict[str, tuple[float, float]]:
    """The generators of ``dataset`` that ran below their published schedule in some job."""
    return {g: fr for (d, g), fr in fractions.items() if d == dataset and fr[0] < FULL}


def mean_fraction(fractions: dict[tuple[str, str], tuple[float, float]], dataset: str, generator: str) -> float:
    """The (lowest + highest) / 2 fraction of one generator on one dataset; nan when not reported."""
    fr = fractions.get((dataset, generator))
    return float("nan") if fr is None else (fr[0] + fr[1]) / 2.0


def _percent(x: float) -> str:
    p = 100.0 * x
    if p >= 10 or p == 0:
        return f"{p:.0f}%"
    return f"{p:.2g}%" if p < 1 else f"{p:.1f}%"


PUBLISHED = "published"
OWN_DEFAULT = "own default"


def footnote(generator: str, fraction: tuple[float, float], mark: str = SCHEDULE_MARK,
             basis: str = PUBLISHED) -> str:
    """``‡ name: trained on x% of the published schedule (epochs run / published)``; a range when
    the seeds differ. A generator with no published configuration (``basis`` ``own default``)
    is measured against the project's own default schedule, and the note says so."""
    lo, hi = fraction
    share = _percent(lo) if math.isclose(lo, hi, rel_tol=1e-3, abs_tol=1e-6) else f"{_percent(lo)}–{_percent(hi)}"
    if basis == OWN_DEFAULT:
        return (f"{mark} {generator}: trained on {share} of ehrbench's own default schedule (it has no published "
                "configuration; epochs run / own default)")
    return f"{mark} {generator}: trained on {share} of the published schedule (epochs run / published)"


def basis_of(generator: str, basis: dict[str, str] | None) -> str:
    """The schedule basis of a generator label (``name`` or ``name:opt=v``) from a name -> basis
    map (the manifest's declared departures); published when not declared."""
    basis = basis or {}
    return basis.get(generator) or basis.get(generator.split(":", 1)[0]) or PUBLISHED


def footnotes(fractions: dict[tuple[str, str], tuple[float, float]], dataset: str, generators: list[str],
              mark: str = SCHEDULE_MARK, basis: dict[str, str] | None = None) -> list[str]:
    """One footnote per truncated generator of ``dataset``, in the order of ``generators``."""
    cut = truncated(fractions, dataset)
    return [footnote(g, cut[g], mark, basis_of(g, basis)) for g in generators if g in cut]


def label(generator: str, dataset: str, fractions: dict[tuple[str, str], tuple[float, float]],
          mark: str = SCHEDULE_MARK) -> str:
    """The generator's name as a table shows it: with the mark when its schedule was truncated."""
    return f"{generator} {mark}" if generator in truncated(fractions, dataset) else generator
