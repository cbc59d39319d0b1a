"""Exceptions that the CLI turns into a one-line message and exit status 2.

Every user-facing failure is one of these, so the CLI can tell a bad input (our message, exit 2)
from a bug (a traceback) without guessing.
"""

from __future__ import annotations


class BenchError(Exception):
    """A problem the user can fix: the message names the input and what is wrong with it."""


class DatasetError(BenchError, ValueError):
    """A dataset is missing, malformed or unusable."""


class OptionError(BenchError, ValueError):
    """An unknown name or a bad value for a generator, metric, dataset or CLI option."""


class GeneratorError(BenchError, RuntimeError):
    """A generator failed in a way that ends its job (recorded in the job's error column)."""


class TrainingDiverged(GeneratorError):
    """A loss became non-finite; the job ends with this error, the run goes on."""


class MetricNotApplicable(BenchError):
    """A metric cannot run on this input; the reason is recorded instead of a silent NaN."""


def describe_error(exc: BaseException) -> str:
    """One line for a job's error column: our own errors as their message; anything else with its
    type, the start of its message and where it was raised (file:line, no traceback)."""
    if isinstance(exc, BenchError):
        return f"{type(exc).__name__}: {exc}"
    import traceback
    from pathlib import Path

    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"
