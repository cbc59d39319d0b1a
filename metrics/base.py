"""The metric contract, after SDMetrics' metric classes: a name, a category, and for each score it
returns a goal and a range, behind one ``compute``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable

CATEGORIES = ("fidelity", "utility", "clinical", "privacy", "speed")
GOALS = ("maximize", "minimize", "target")


@dataclass(frozen=True)
class Score:
    """One number a metric returns, with what "better" means for it.

    ``goal`` and ``ideal`` together define the distance to the goal that rankings use
    (:func:`distance_to_goal`; the rules and their reasons are in docs/metrics.md):

    - ``maximize`` / ``minimize`` without an ideal: higher / lower is better, without bound.
    - ``maximize`` / ``minimize`` with an ideal: better up to the ideal, no credit beyond it. For a
      score bounded by its ideal (an AUROC with ideal 1) this is plain maximisation; for a privacy
      score whose ideal is the level of fresh real records (DCR ratio 1, attack AUROC 0.5) it is
      the one-sided reading: being "more private" than held-out patients earns nothing.
    - ``target``: closer to ``ideal`` on either side is better; an ideal is required.

    ``ideal`` is a number or the NAME of a real-data reference score of the same metric (e.g.
    ``label_fidelity_auroc`` aims at ``label_fidelity_real_auroc``): the distance is then taken,
    block by block, to the value that reference score takes in the same job.

    ``reference`` marks a baseline the generator does not control (a model trained on real data,
    the same statistic on real held-out records): the tables show it beside the generator's score
    so that the score can be read against it, and never rank generators on it.

    ``blind`` is the value a generator whose records carry no information about their label
    scores (0.5 for an AUROC of the label): ``bench check`` measures a label score's scale from
    it too, since the independent reference samples codes per class and keeps the label.
    """

    name: str
    goal: str
    lower: float = -np.inf
    upper: float = np.inf
    ideal: float | str | None = None
    description: str = ""
    reference: bool = False  # a real-data reference (e.g. TRTR): shown, never ranked
    blind: float | None = None  # the score of records that say nothing about their label

    def __post_init__(self) -> None:
        if self.goal not in GOALS:
            raise ValueError(f"score {self.name}: goal must be one of {GOALS}")
        if self.goal == "target" and self.ideal is None:
            raise ValueError(f"score {self.name}: a target score needs an ideal (a number or a reference score's name)")
        if isinstance(self.ideal, str) and self.ideal == self.name:
            raise ValueError(f"score {self.name}: its ideal cannot name the score itself")

    @property
    def ideal_is_reference(self) -> bool:
        return isinstance(self.ideal, str)


def distance_to_goal(
    value: np.ndarray | float, goal: str, ideal: float | None = None
) -> np.ndarray:
    """How far ``value`` falls short of the goal (0 = at the ideal; lower is better).

    ``ideal`` is numeric here; a score whose ideal names a reference score passes that
    reference's value (same block) as ``ideal``, element-wise.
    """
    x = np.asarray(value, dtype=float)
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    has_ideal = ideal is not None
    if goal == "target":
        if not has_ideal:
            raise ValueError("a target score needs an ideal to measure the distance to")
        return np.abs(x - np.asarray(ideal, dtype=float))
    if not has_ideal:
        return -x if goal == "maximize" else x
    ideal_arr = np.asarray(ideal, dtype=float)
    short = ideal_arr - x if goal == "maximize" else x - ideal_arr
    return np.maximum(short, 0.0)


class Scores(dict):
    """What ``compute`` returns: ``{score name: value}``, and in ``notes`` why a declared score is
    missing while the others are there (``{score name: reason}``, e.g. no column pair passes an
    association threshold). A plain dict is a valid result too (no notes)."""

    def __init__(self, values: Any = (), notes: dict[str, str] | None = None) -> None:
        super().__init__(values)
        self.notes: dict[str, str] = dict(notes or {})


def notes_of(result: dict[str, float]) -> dict[str, str]:
    """The notes of a ``compute`` result (none for a plain dict)."""
    return dict(getattr(result, "notes", {}) or {})


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

    ``compute`` returns ``{score name: value}`` for the scores in ``scores``, as a
    :class:`Scores` when it says why a score is missing (everything leaves ``compute`` through its
    result: a metric object holds no state of its last call). A metric that cannot run on its input
    raises :class:`bench.core.errors.MetricNotApplicable` with the reason.
    """

    name: ClassVar[str] = ""
    category: ClassVar[str] = "fidelity"
    scores: ClassVar[tuple[Score, ...]] = ()
    description: ClassVar[str] = ""
    default: ClassVar[bool] = True  # part of the default suite
    needs_label: ClassVar[bool] = False

    def __init__(self, random_state: int | None = 0) -> None:
        self.random_state = random_state

    def rng(self) -> np.random.Generator:
        """A fresh generator from ``random_state``, so every compute call draws the same samples."""
        return np.random.default_rng(self.random_state)

    @abstractmethod
    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        """Score ``synthetic`` against the real data."""

    @classmethod
    def score_names(cls) -> list[str]:
        return [s.name for s in cls.scores]

    @classmethod
    def score(cls, name: str) -> Score:
        for s in cls.scores:
            if s.name == name:
                return s
        raise KeyError(name)


def check_columns(real_train: EHRDataset, synthetic: SyntheticData) -> None:
    """Refuse synthetic records whose shape cannot be compared with the real ones."""
    X = np.asarray(synthetic.X)
    if X.ndim != 2 or X.shape[1] != real_train.n_codes:
        raise MetricNotApplicable(
            f"the synthetic records have shape {X.shape}; {real_train.n_codes} columns are expected"
        )
    if X.shape[0] == 0:
        raise MetricNotApplicable("there are no synthetic records")


def sample_rows(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``cap`` of ``n`` rows, drawn without replacement and kept in order.

    All rows (in order, no draw) when ``n <= cap``: small inputs are then used whole, which keeps
    the metric exact there and lets identical inputs give identical samples.
    """
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))


def take_rows(data: EHRDataset | SyntheticData, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``cap`` records of ``data`` as a dense float32 array (see :func:`sample_rows`).

    A sparse dataset without a dense copy gives only the sampled rows from its CSR matrix, so a
    subsampling metric never densifies a dataset too large to hold densely.
    """
    n = data.n_records
    idx = sample_rows(n, cap, rng)
    if getattr(data, "is_sparse", False) and not getattr(data, "has_dense", True):
        return np.asarray(data.X_sparse[idx].toarray(), dtype=np.float32)  # type: ignore[union-attr]
    return np.asarray(data.X)[idx]


def presence(X: np.ndarray) -> np.ndarray:
    """Code presence as float32 0/1: counts above zero become one, binary data is returned as is."""
    X = np.asarray(X)
    if X.dtype == np.float32 and _is_binary(X):
        return X
    return (X > 0).astype(np.float32)


def features(X: np.ndarray, kind: str) -> np.ndarray:
    """The representation distance- and model-based metrics work on.

    Binary records are used as they are (Euclidean distance is then the square root of the Hamming
    distance). Counts are log1p-transformed so that one frequent code does not dominate distances;
    zero stays zero, so an exact copy is still at distance zero.
    """
    X = np.asarray(X, dtype=np.float32)
    return X if kind == "binary" else np.log1p(X)


def _is_binary(X: np.ndarray) -> bool:
    # checked on a cheap view of at most 2,000 rows first; a full check only when that passes
    head = X[:2000]
    if not np.all((head == 0) | (head == 1)):
        return False
    return bool(np.all((X == 0) | (X == 1)))
