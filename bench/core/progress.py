"""The progress protocol: how a running job says how far it has come, for display only.

A callback ``progress(done, total, unit)`` hears, e.g., ``(120, 4500, "update")`` from a
generator's training loop (through :meth:`generators.base.Generator._report_progress`, which
throttles) or ``(0, 0, "sample")`` for a stage without a count. It sits at the bottom so that the
generators (which call it), the job and the executors (which carry it) share one definition.
Nothing a callback receives may reach a result: progress changes no number.

What a run shows (:class:`ProgressBoard`): each running job's count and its own estimate of the
time its phase has left (:class:`JobEstimate`), never an average over jobs, whose lengths differ
by orders of magnitude (references take a second, medGAN minutes); without a bar, one line per
finished job (:func:`finished_line`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[[int, int, str], None]


class Progress:
    """A callback that can be absent and never fails its caller: one that raises is dropped, since a
    broken display must not end a job."""

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self.callback = callback

    def __bool__(self) -> bool:
        return self.callback is not None

    def __call__(self, done: int, total: int, unit: str) -> None:
        if self.callback is None:
            return
        try:
            self.callback(int(done), int(total), unit)
        except Exception:
            self.callback = None


def describe_progress(done: int, total: int, unit: str) -> str:
    """A report in words: ``update 120/4500``, or the stage's name when it has no count."""
    return f"{unit} {done}/{total}" if total > 0 else unit


# ------------------------------------------------------------------------------ what a run shows
MIN_ESTIMATE_S = 1.0  # a phase's first second says too little about its rate to extrapolate from


class JobEstimate:
    """One job's time left in its current phase, from its own counter.

    The rate is this job's ``done`` per second since the phase's first report, so a long medGAN
    fit beside quick references is estimated from medGAN's own updates, never averaged with
    other jobs. A stage without a count (``sample``, ``fit`` before the first update) has no
    estimate; neither has a phase under :data:`MIN_ESTIMATE_S` old or one without progress yet.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.phase: tuple[str, int] | None = None
        self.start: tuple[float, int] = (0.0, 0)
        self.last: tuple[int, int, str] = (0, 0, "")

    def update(self, done: int, total: int, unit: str) -> None:
        if (unit, total) != self.phase:  # a new phase (or stage): its own clock
            self.phase = (unit, total)
            self.start = (self.clock(), done)
        self.last = (done, total, unit)

    def seconds_left(self) -> float | None:
        done, total, _ = self.last
        t0, done0 = self.start
        elapsed = self.clock() - t0
        if total <= 0 or done >= total or done <= done0 or elapsed < MIN_ESTIMATE_S:
            return None
        return (total - done) * elapsed / (done - done0)

    def describe(self) -> str:
        text = describe_progress(*self.last)
        left = self.seconds_left()
        return text if left is None else f"{text} ~{format_seconds(left)} left"


def format_seconds(s: float) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min``: a duration as a person reads it."""
    s = max(0, round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressBoard:
    """The running jobs, each with its own progress and estimate, as one line for the jobs bar."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.jobs: dict[str, JobEstimate] = {}

    def report(self, job_id: str, done: int, total: int, unit: str) -> None:
        self.jobs.setdefault(job_id, JobEstimate(self.clock)).update(done, total, unit)

    def finish(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def line(self, width: int = 40) -> str:
        return " | ".join(f"{job_id[:width]}: {est.describe()}" for job_id, est in self.jobs.items())


def finished_line(record: Any, index: int, total: int) -> str:
    """One finished job as a log line, for runs without a bar (``--no-progress``, CI logs):
    ``[3/9] medgan on eunomia, seed 0: fit 7.2 s, sample 0.1 s, ok``. ``record`` is a job record
    (generator, dataset, seed, fit_s, sample_s, status, error)."""

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} s"

    status = record.status if record.status == "ok" else f"{record.status}: {record.error}"
    return (f"[{index}/{total}] {record.generator} on {record.dataset}, seed {record.seed}: "
            f"fit {secs(record.fit_s)}, sample {secs(record.sample_s)}, {status}")
