"""The progress protocol: how a running job says how far it has come, for display only.

A callback ``progress(done, total, unit)`` hears, e.g., ``(120, 4500, "update")`` from a
generator's training loop (through :meth:`generators.base.Generator._report_progress`, which
throttles) or ``(0, 0, "sample")`` for a stage without a count. It sits at the bottom so that the
generators (which call it), the job and the executors (which carry it) share one definition.
Nothing a callback receives may reach a result: progress changes no number.
"""

from __future__ import annotations

from collections.abc import Callable

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
