"""Prints the efficiency table (benchmarks/efficiency.py) after the pytest-benchmark suite."""

from __future__ import annotations

import os


def pytest_terminal_summary(terminalreporter) -> None:
    try:
        from benchmarks import efficiency
    except ImportError:
        return
    if not efficiency.RESULTS:
        return
    info = efficiency.machine()
    info["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    info["load_avg"] = efficiency.START_LOAD or info["load_avg"]
    terminalreporter.write_sep("=", "efficiency of one optimiser update (cpu presets, eunomia, one thread)")
    terminalreporter.write_line(efficiency.format_table(efficiency.RESULTS, info))
