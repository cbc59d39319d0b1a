"""The metric contract, after SDMetrics' metric classes: a name, a category, and for each score it
returns a goal and a range, behind one ``compute``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bench.dataset import EHRDataset

CATEGORIES = ("fidelity", "utility", "privacy", "speed")
GOALS = ("maximize", "minimize", "target")


@dataclass(frozen=True)
class Score:
    """One number a metric returns. ``goal='target'`` means closer to ``ideal`` is better."""

    name: str
    goal: str
    lower: float = -np.inf
    upper: float = np.inf
    ideal: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.goal not in GOALS:
            raise ValueError(f"score {self.name}: goal must be one of {GOALS}")


@dataclass
class SyntheticData:
    """Synthetic records with their labels and what the job measured while making them."""

    X: np.ndarray
    y: np.ndarray | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_records(self) -> int:
        return int(self.X.shape[0])


class Metric(ABC):
    """Compares synthetic records with the real training and held-out records.

    ``compute`` returns ``{score name: value}`` for the scores in ``scores``. A metric that cannot
    run on its input raises :class:`bench.errors.MetricNotApplicable` with the reason.
    """

    name: ClassVar[str] = ""
    category: ClassVar[str] = "fidelity"
    scores: ClassVar[tuple[Score, ...]] = ()
    description: ClassVar[str] = ""
    default: ClassVar[bool] = True  # part of the default suite
    needs_label: ClassVar[bool] = False

    def __init__(self, random_state: int | None = 0) -> None:
        self.random_state = random_state

    @abstractmethod
    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        """Score ``synthetic`` against the real data."""

    @classmethod
    def score(cls, name: str) -> Score:
        for s in cls.scores:
            if s.name == name:
                return s
        raise KeyError(name)
