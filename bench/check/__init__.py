"""CI regression of scores: rerun a stored grid and fail when a score leaves its tolerance.

``rule`` states how tolerances are derived, ``grid`` the CI grid and how a grid is rerun,
``baseline`` the file, ``regress`` the comparison, ``command`` the CLI subcommand and
:func:`check`, which walks them once in that order (its module docstring). See docs/ci.md.
"""

from bench.check.baseline import DEFAULT_BASELINE, StaleBaseline, load_baseline, make_baseline
from bench.check.command import check
from bench.check.grid import ci_config
from bench.check.regress import CheckResult, Moved, format_moved
from bench.check.rule import Rule

__all__ = ["DEFAULT_BASELINE", "CheckResult", "Moved", "Rule", "StaleBaseline", "check", "ci_config",
           "format_moved", "load_baseline", "make_baseline"]
