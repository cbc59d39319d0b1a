"""The one record of a job: what ``run_job`` returns, what every executor yields, what
``jobs/<id>.json`` holds and what the results tables are built from.

A job that never returned a record (killed past its limit, crashed) gets one from
:meth:`JobRecord.failed`, with the same fields as any other failed job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


@dataclass
class JobRecord:
    generator: str  # the generator spec's label
    dataset: str  # the dataset spec's label
    seed: int
    n_synthetic: int
    status: str = "ok"  # "ok" or "error"
    error: str | None = None  # why the job failed (its reason, for a killed job)
    fit_s: float | None = None
    sample_s: float | None = None
    wall_s: float | None = None
    peak_mem_mb: float | None = None
    gpu_peak_mem_mb: float | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the generator's hyperparameters, as built
    diagnostics: dict[str, Any] = field(default_factory=dict)  # the generator's own figures (nfe, epsilon...)
    scores: list[dict[str, Any]] = field(default_factory=list)  # rows of scores.csv / timings.csv
    key: str | None = None  # hash of everything that decides the job's numbers (resume)
    ray_node: str | None = None  # the Ray node that ran it, when the ray executor did
    threads: int | None = None  # torch's intra-op threads the job computed with (float paths depend on it)
    # carried from the job to the run directory's own files, not into jobs/<id>.json:
    history: list[dict[str, Any]] = field(default_factory=list)  # -> curves/<id>.csv
    profile: list[float] | None = None  # per-code prevalence of the synthetic records -> profiles/<id>.csv

    SIDE_FILES = ("history", "profile")

    @classmethod
    def failed(cls, generator: str, dataset: str, seed: int, n_synthetic: int, error: str,
               wall_s: float | None = None) -> JobRecord:
        return cls(generator, dataset, seed, n_synthetic, status="error", error=error, wall_s=wall_s)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """What ``jobs/<id>.json`` holds (without the side files' contents)."""
        out = asdict(self)
        for name in self.SIDE_FILES:
            out.pop(name)
        if out["ray_node"] is None:
            out.pop("ray_node")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """A record read back from ``jobs/<id>.json``; a field it lacks takes its default."""
        names = {f.name for f in fields(cls)}
        missing = [k for k in ("generator", "dataset", "seed", "n_synthetic") if k not in data]
        if missing:
            raise ValueError(f"job record lacks {', '.join(missing)}")
        record = cls(**{k: v for k, v in data.items() if k in names})
        record.scores = [_renamed(row) for row in record.scores]
        return record

    def diagnostic_columns(self) -> dict[str, Any]:
        """The diagnostics as named columns of ``jobs.csv`` (``diag_<name>``); a list becomes its
        text joined by ``-``, so every cell holds one value."""
        out = {}
        for k, v in sorted(self.diagnostics.items()):
            if isinstance(v, (list, tuple)):
                v = "-".join(str(x) for x in v)
            out[f"diag_{k}"] = v
        return out


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    """A score row as written before the columns were renamed (``family`` held the metric class,
    ``metric`` the score name), in today's names; today's rows pass unchanged."""
    if "score" in row or "family" not in row:
        return row
    out = {k: v for k, v in row.items() if k not in ("family", "metric")}
    return {**out, "metric": row["family"], "score": row["metric"]}


def plain(v: Any) -> Any:
    """A value JSON can hold: numpy scalars to Python, sequences element-wise, others as repr."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return repr(v)
