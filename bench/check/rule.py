"""The tolerance rule of ``bench check``: how far a score may move before the check fails.

The check reruns the baseline's grid with the same seeds and compares, per (dataset, generator,
score), the mean over seeds now with the mean stored in the baseline. On the machine that wrote
the baseline an unchanged tree gives the same numbers bit for bit; on another machine (other
CPU, other thread count) float rounding differs, and a trained network, a GAN above all, drifts to
what is in effect another draw of its seed. The rule therefore treats the rerun as an
independent draw, not as a paired replicate:

* **bound** -- with n baseline seeds, sample std ``s`` and k seeds compared, the difference of two
  k-seed means has standard error ``s * sqrt(2 / k)``; the tolerance is
  ``t(1 - a/2, n - 1) * s * sqrt(2 / k)`` with ``a = family_alpha / N`` (Bonferroni over the N
  candidate scores of the baseline), so a rerun of unchanged code on any machine fails with
  probability at most ``family_alpha`` (about; seeds are treated as independent draws). n and k
  are per generator: a grid may give a generator whose seeds spread widely more seeds than the
  rest (the CI grid's medGAN), which narrows its bound as ``t / sqrt(n)`` without paying for
  the others;
* **floor** -- no tolerance is below ``floor_fraction * cap``: room for the float noise of another
  machine or thread count, which moves even a score that is constant over seeds (a real-data
  reference). Measured: dim-wise prediction's real-trained F1 (``dwpred_f1_real``) moved by 1.0e-3
  between one and two threads, 51 times the first floor of 0.001 x cap (2e-5); 0.1 x cap (2e-3 on
  a [0, 1] reference score) holds it and is still far below any real change;
* **cap** -- ``cap_fraction`` of the score's distance scale on that dataset: the larger of
  ``|independent - real-copy|`` (no joint structure against the data itself) and
  ``|generator - real-copy|`` (the generator's own distance from the data, which is the larger
  one on marginal scores, where independent is near perfect), and, for a score of the label that
  declares a label-blind value (an AUROC of the label: 0.5), ``|blind - real-copy|``: the
  independent reference samples codes per class, so it keeps the label almost as well as the data
  (toy's TSTR 0.884 against real 0.896) and cannot say how far a loss of conditioning moves the
  score; where all are 0 (a reference score, which no generator moves) ``range_fraction`` of the
  score's declared range;
* **exclusion** -- a score whose bound exceeds its cap, whose bound is at least |mean| (for a
  score whose range is not centred on 0), that has no cap, or that is missing for some seed, is
  left out of the check and listed, with the reason, in the baseline file. Speed scores measure
  the machine and are never checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

ANCHORS = ("independent", "real-copy")  # no joint structure / the training data itself


@dataclass(frozen=True)
class Rule:
    family_alpha: float = 0.05
    cap_fraction: float = 0.25
    range_fraction: float = 0.02
    floor_fraction: float = 0.1
    min_seeds: int = 5

    def describe(self) -> str:
        return (
            f"tolerance = t(1 - a/2, n - 1) * std * sqrt(2/k) over n baseline seeds and k compared seeds, "
            f"a = {self.family_alpha} / N candidate scores (Bonferroni); floor {self.floor_fraction} x cap; "
            f"cap = {self.cap_fraction} x max(|independent - real-copy|, |generator - real-copy|, "
            f"|label-blind value - real-copy| for a score of the label) (means on the score), or {self.range_fraction} x its declared range where all of these are 0; excluded: tolerance > cap, "
            f"tolerance >= |mean| (range not centred on 0), no cap, missing for a seed; "
            f"at least {self.min_seeds} seeds; speed never checked"
        )

    def t_factor(self, n_candidates: int, n_seeds: int) -> float:
        alpha = self.family_alpha / max(1, n_candidates)
        return float(stats.t.ppf(1.0 - alpha / 2.0, n_seeds - 1))


@dataclass
class Entry:
    """One (dataset, generator, score) of a baseline: per-seed values and what the rule made of them."""

    dataset: str
    generator: str
    metric: str
    goal: str
    lower: float
    upper: float
    values: dict[int, float]
    t: float = math.nan
    cap: float | None = None
    cap_basis: str = ""
    checked: bool = False
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    blind: float | None = None  # the score's label-blind value, where it declares one

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.generator, self.metric)

    @property
    def std(self) -> float:
        v = list(self.values.values())
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan

    def mean(self, seeds: list[int] | None = None) -> float:
        return float(np.mean([self.values[s] for s in (seeds or self.values)]))

    @property
    def centred(self) -> bool:
        return math.isfinite(self.lower) and self.lower == -self.upper

    def tolerance(self, rule: Rule, k: int | None = None) -> float:
        """The bound for a comparison of ``k`` seeds (default: all of the baseline's)."""
        k = k or len(self.values)
        floor = rule.floor_fraction * (self.cap or 0.0)
        return max(self.t * self.std * math.sqrt(2.0 / k), floor)

    def usable(self, rule: Rule, seeds: list[int] | None = None) -> str:
        """Why this score cannot be checked on ``seeds`` (all by default); empty when it can."""
        if self.cap is None:
            return "no cap: independent, real-copy and the generator agree on it and its range is unbounded"
        tol = self.tolerance(rule, len(seeds) if seeds else None)
        if tol > self.cap:
            return f"seed spread too wide: tolerance {tol:.3g} > cap {self.cap:.3g} ({self.cap_basis})"
        if not self.centred and tol >= abs(self.mean(seeds)):
            return f"tolerance {tol:.3g} >= |mean| {abs(self.mean(seeds)):.3g}"
        return ""


def derive(entries: list[Entry], seeds: list[int] | Mapping[str, list[int]], rule: Rule) -> list[Entry]:
    """Apply the rule to every entry of a baseline (in place) and return them.

    ``seeds``: the grid's seeds, one list for every generator, or per generator label (a grid that
    gives a high-variance generator more seeds than the rest: its bound narrows, the rest stay
    cheap). Each entry's t quantile uses its own generator's seed count."""
    from bench.core.errors import OptionError

    def own(generator: str) -> list[int]:
        return list(seeds.get(generator, ())) if isinstance(seeds, Mapping) else list(seeds)

    lists = [list(v) for v in seeds.values()] if isinstance(seeds, Mapping) else [list(seeds)]
    few = min(lists, key=len, default=[])
    if len(few) < rule.min_seeds:
        raise OptionError(
            f"the tolerance rule needs at least {rule.min_seeds} seeds for a baseline, got {len(few)} "
            f"({few}); pass e.g. --seeds {','.join(str(s) for s in range(rule.min_seeds))}"
        )
    anchor: dict[tuple[str, str, str], Entry] = {}
    for e in entries:
        name = e.generator.partition(":")[0]
        if name in ANCHORS and e.generator == name and set(own(name)) <= set(e.values):
            anchor[(e.dataset, name, e.metric)] = e
    for e in entries:
        mine = own(e.generator)
        e.t = rule.t_factor(len(entries), len(mine))
        missing = sorted(set(mine) - set(e.values))
        if missing:
            e.checked, e.reason = False, f"missing for seeds {missing}{': ' + e.reason if e.reason else ''}"
            continue
        e.values = {s: e.values[s] for s in mine}
        ind, rc = (anchor.get((e.dataset, n, e.metric)) for n in ANCHORS)
        # the scale: how far from the data the score can sit -- independent's distance, or this
        # generator's own when it is further (a marginal score, where independent is near perfect);
        # each distance between means over the seeds both sides ran (seeds draw their own splits)
        scale = max(_distance(ind, rc, own), _distance(e, rc, own)) if ind is not None and rc is not None else 0.0
        if e.blind is not None and rc is not None:
            # a label score: records that say nothing about their label sit at the blind value
            # (an AUROC of 0.5), however well independent's per-class marginals keep the label
            scale = max(scale, abs(e.blind - rc.mean([s for s in mine if s in rc.values] or None)))
        if scale > 0:
            e.cap, e.cap_basis = rule.cap_fraction * scale, f"{rule.cap_fraction} x distance from real-copy"
        elif math.isfinite(e.upper - e.lower):
            e.cap, e.cap_basis = rule.range_fraction * (e.upper - e.lower), f"{rule.range_fraction} x range"
        else:
            e.cap, e.cap_basis = None, ""
        e.reason = e.usable(rule)
        e.checked = not e.reason
    return entries


def _distance(a: Entry, b: Entry, own: Callable[[str], list[int]]) -> float:
    """|mean of a - mean of b| over the seeds both generators' grids give them (all of a's when none)."""
    shared = [s for s in own(a.generator) if s in set(own(b.generator))] or own(a.generator)
    return abs(a.mean([s for s in shared if s in a.values]) - b.mean([s for s in shared if s in b.values]))


@dataclass(frozen=True)
class Expected:
    """A score a check compares: the baseline's mean over the seeds compared and its tolerance there."""

    dataset: str
    generator: str
    metric: str
    goal: str
    mean: float
    tolerance: float
    seeds: tuple[int, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.generator, self.metric)


@dataclass
class Expectations:
    """What the rule expects of a check: the scores it compares (``usable``), those checked in the
    baseline that these seeds cannot check (``skipped``, each with why) and how many the baseline
    left out by rule (``excluded``)."""

    usable: list[Expected]
    skipped: list[str]
    excluded: int


def expect(entries: list[Entry], seeds: Mapping[str, list[int]], rule: Rule) -> Expectations:
    """The rule applied to a check of ``entries`` at each generator's ``seeds``: per score the rule
    checks there, the baseline's mean over those seeds and the tolerance for that many seeds."""
    usable, skipped = [], []
    for e in entries:
        if not e.checked:
            continue
        mine = list(seeds[e.generator])
        why = e.usable(rule, mine)
        if why:
            skipped.append(f"{e.dataset} / {e.generator} / {e.metric}: {why} at {len(mine)} seeds")
        else:
            usable.append(Expected(e.dataset, e.generator, e.metric, e.goal, e.mean(mine),
                                   e.tolerance(rule, len(mine)), tuple(mine)))
    return Expectations(usable, skipped, sum(not e.checked for e in entries))
