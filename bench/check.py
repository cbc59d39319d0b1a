"""CI regression of scores: rerun a stored grid and fail when a score leaves its tolerance.

The baseline file holds the grid (generators, datasets, seeds, metrics, preset) and, per
(dataset, generator, score), the mean over seeds and a tolerance derived from the seed spread.
Speed scores measure the machine, not the code, and are never checked.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import harness
from bench.core.errors import OptionError
from bench.core.io import read_json, write_json
from bench.provenance import code_version, package_versions

DEFAULT_BASELINE = Path("results/baseline/quick.json")
SPREAD_FACTOR = 3.0  # tolerance = max(3 x std over seeds, floor)
RELATIVE_FLOOR = 0.02  # ... floor = 2% of |mean| + ABSOLUTE_FLOOR
ABSOLUTE_FLOOR = 1e-3


def tolerance(mean: float, std: float) -> float:
    spread = 0.0 if std is None or math.isnan(std) else SPREAD_FACTOR * std
    return max(spread, RELATIVE_FLOOR * abs(mean) + ABSOLUTE_FLOOR)


@dataclass
class Violation:
    dataset: str
    generator: str
    metric: str
    baseline: float | None
    now: float | None
    tolerance: float | None
    reason: str

    def __str__(self) -> str:
        if self.reason:
            return f"{self.dataset} / {self.generator} / {self.metric}: {self.reason}"
        return (f"{self.dataset} / {self.generator} / {self.metric}: {self.now:.6g} vs baseline "
                f"{self.baseline:.6g} (|Δ| {abs(self.now - self.baseline):.3g} > tolerance {self.tolerance:.3g})")


def _run_grid(cfg: harness.RunConfig, out: Path, progress: bool) -> pd.DataFrame:
    prep = harness.prepare(cfg)
    run_dir = harness.new_run_dir(out, cfg)
    harness.run(prep, run_dir, command=["python", "-m", "bench", "check"], force=True, progress=progress)
    summary = pd.read_csv(run_dir / "summary.csv")
    summary.attrs["run_dir"] = str(run_dir)
    return summary[summary["category"] != "speed"]


def make_baseline(cfg: harness.RunConfig, path: Path, work: Path, progress: bool = True) -> dict:
    summary = _run_grid(cfg, work, progress)
    scores = []
    for r in summary.itertuples():
        if pd.isna(r.mean):
            continue
        std = None if pd.isna(r.std) else float(r.std)
        scores.append({"dataset": r.dataset, "generator": r.generator, "metric": r.score, "goal": r.goal,
                       "mean": float(r.mean), "std": std, "tolerance": tolerance(float(r.mean), std or 0.0)})
    baseline = {
        "config": {k: v for k, v in cfg.to_dict().items() if k != "save_synthetic"},
        "tolerance_rule": f"max({SPREAD_FACTOR} x std over seeds, {RELATIVE_FLOOR} x |mean| + {ABSOLUTE_FLOOR})",
        "code_version": code_version(),
        "packages": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scores": scores,
    }
    write_json(path, baseline)
    return baseline


def load_baseline(path: Path) -> dict:
    if not path.is_file():
        raise OptionError(f"baseline {path} does not exist; create it with `python -m bench check --update`")
    try:
        data = read_json(path)
        cfg = harness.RunConfig.from_dict(data["config"])  # no val_size: the train/test split it ran on
        _ = [(s["dataset"], s["generator"], s["metric"], s["mean"], s["tolerance"]) for s in data["scores"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise OptionError(f"baseline {path} is malformed: {exc}") from None
    data["_config"] = cfg
    return data


def check(path: Path, work: Path | None = None, progress: bool = True) -> tuple[list[Violation], int, str]:
    """Rerun the baseline's grid; return the violations, the number of scores checked and the run dir."""
    base = load_baseline(path)
    with tempfile.TemporaryDirectory(prefix="ehrbench-check-") as tmp:
        summary = _run_grid(base["_config"], work or Path(tmp), progress)
        run_dir = summary.attrs["run_dir"] if work else "(temporary)"
    now = {(r.dataset, r.generator, r.score): r.mean for r in summary.itertuples()}  # JSON key "metric": the score
    violations = []
    for s in base["scores"]:
        key = (s["dataset"], s["generator"], s["metric"])
        value = now.get(key)
        if value is None or pd.isna(value):
            violations.append(Violation(*key, s["mean"], None, s["tolerance"], "missing now (job failed or metric not computed)"))
        elif abs(value - s["mean"]) > s["tolerance"]:
            violations.append(Violation(*key, s["mean"], float(value), s["tolerance"], ""))
    return violations, len(base["scores"]), run_dir
