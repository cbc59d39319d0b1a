"""The leaderboard grid (issue 25): seeds as ranges, parts that merge, equal budgets, the tuning
policy in the caption, and a bad ``--part`` refused before any work."""

from __future__ import annotations

import pytest

from bench.core.errors import OptionError
from bench.core.options import parse_ints


def test_seeds_read_ranges_in_every_subcommand():
    """One grammar: ``0-9`` is ten seeds, ranges and single seeds mix, in the order written."""
    from bench.api import _seeds
    from bench.check.command import _ints
    from bench.cli import _int_list

    assert parse_ints("0-9") == list(range(10))
    assert parse_ints("0-2,5") == _int_list("--seeds", "0-2,5") == _ints("--seeds", "0-2,5") == _seeds("0-2,5")
    assert _seeds("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(OptionError, match=r"--seeds: the range '5-2' runs backwards \(write 2-5\)"):
        parse_ints("5-2")
    with pytest.raises(OptionError, match="--seeds: expected comma-separated integers, got '1-x'"):
        parse_ints("1-x")
