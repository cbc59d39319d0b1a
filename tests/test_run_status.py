"""A run killed without a word (SIGKILL) reads as interrupted, with its missing jobs named, to
every reader of its manifest: BenchmarkResult, the tables' caption and jobs.csv, a resumed run;
while its process lives, the folder is its own (bench/run_status.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.core.errors import OptionError
from bench.run_status import ALIVE, GONE, UNKNOWN, process_state, resolve, this_process

# A run of independent on toy, seeds 0-2, whose job of seed 1 never ends: the test kills it there.
STALLED_RUN = textwrap.dedent("""
    import sys, time
    from bench import run_benchmark
    from generators.baselines import IndependentGenerator

    fit = IndependentGenerator.fit
    def stalled(self, data, *args, **kwargs):
        if self.random_state == 1:
            time.sleep(600)
        return fit(self, data, *args, **kwargs)
    IndependentGenerator.fit = stalled
    run_benchmark("independent", "toy:n_records=200", seeds=[0, 1, 2], metrics="dimwise_probability",
                  baseline=False, out=sys.argv[1])
""")


def _start(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", STALLED_RUN, str(run_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_first_record(proc: subprocess.Popen, run_dir: Path, timeout: float = 150.0) -> None:
    end = time.monotonic() + timeout
    while not list((run_dir / "jobs").glob("*.json")):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("no job record within the time allowed")
        time.sleep(0.2)


def test_a_run_killed_with_sigkill_reads_interrupted_and_names_its_missing_jobs(tmp_path, capsys):
    from bench import BenchmarkResult, run_benchmark
    from bench.api import Benchmark, configure
    from bench.results import caption, write_tables

    run_dir = tmp_path / "run"
    proc = _start(run_dir)
    try:
        _wait_for_first_record(proc, run_dir)
        # alive: it runs, and the folder is its own
        live = BenchmarkResult(run_dir)
        assert live.status == "running" and live.missing_jobs == [] and live.interrupted is None
        config = configure("independent", "toy:n_records=200", seeds=[0, 1, 2], metrics="dimwise_probability",
                           baseline=False)
        with pytest.raises(OptionError, match=f"being run by process {proc.pid} on this host"):
            Benchmark(config, out=run_dir)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    raw = json.loads((run_dir / "manifest.json").read_text())
    assert raw["status"] == "running" and raw["process"]["pid"] == proc.pid  # SIGKILL: nothing was written
    assert [j["seed"] for j in raw["jobs_planned"]] == [0, 1, 2]

    result = BenchmarkResult(run_dir)
    assert result.status == "interrupted"
    assert result.interrupted.startswith(f"interrupted (process gone: pid {proc.pid} on {socket.gethostname()}")
    assert result.missing_jobs == [{"generator": "independent", "dataset": "toy:n_records=200", "seed": s}
                                   for s in (1, 2)]
    text = caption(run_dir)
    assert text.startswith("INCOMPLETE RUN (interrupted (process gone") and "2 of 3 jobs missing" in text
    assert "independent on toy:n_records=200, seed 1; independent on toy:n_records=200, seed 2" in text
    write_tables(run_dir, ["toy:n_records=200"], ["independent"])  # what `bench report` and a reader render
    assert "INCOMPLETE RUN (interrupted (process gone" in (run_dir / "headline.md").read_text()
    jobs = (run_dir / "jobs.csv").read_text().splitlines()
    assert sum(",missing," in line for line in jobs) == 2

    # resumed: said so, the two missing jobs run, the first reused
    notes: list[str] = []
    done = run_benchmark("independent", "toy:n_records=200", seeds=[0, 1, 2], metrics="dimwise_probability",
                         baseline=False, out=run_dir, log=notes.append)
    assert any("process gone" in n and "2 of 3 jobs missing" in n and "resuming" in n for n in notes), notes
    assert any("1 of 3 jobs already finished" in n for n in notes), notes
    assert done.status == "complete" and done.missing_jobs == [] and done.manifest["process"]["pid"] == os.getpid()
    assert "INCOMPLETE" not in done.headline


def test_process_state_tells_alive_gone_and_unknown(tmp_path):
    me = this_process()
    assert process_state(me) == ALIVE
    assert process_state({**me, "host": me["host"] + ".elsewhere"}) == UNKNOWN  # another host: cannot be told
    assert process_state(None) == UNKNOWN and process_state({"host": me["host"]}) == UNKNOWN
    if me["start_ticks"] is not None:  # /proc: a reused pid is told by its start time
        assert process_state({**me, "start_ticks": me["start_ticks"] - 1}) == GONE
    if me["boot_id"] is not None:  # a machine restarted since
        assert process_state({**me, "boot_id": "another-boot"}) == GONE
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert process_state({**me, "pid": done.pid, "start_ticks": None}) == GONE
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        zombie.send_signal(signal.SIGKILL)
        time.sleep(0.5)  # killed, not yet reaped: /proc still lists it
        assert process_state({**me, "pid": zombie.pid, "start_ticks": None}) == GONE
    finally:
        zombie.wait()


def test_resolve_leaves_other_manifests_as_written(tmp_path):
    planned = [{"generator": "g", "dataset": "d", "seed": 0, "id": "g__d__s0"}]
    gone = {"pid": 2**22 + 12345, "host": socket.gethostname(), "boot_id": None, "start_ticks": None}
    for manifest in ({"status": "complete", "process": gone, "jobs_planned": planned},
                     {"status": "interrupted", "interrupted": "interrupted (Ctrl-C)", "process": gone},
                     {"status": "running", "process": {**gone, "host": "elsewhere"}, "jobs_planned": planned},
                     {"status": "running", "jobs_planned": planned}):  # written before processes were recorded
        assert resolve(manifest, tmp_path) == manifest
    seen = resolve({"status": "running", "process": gone, "jobs_planned": planned}, tmp_path)
    assert seen["status"] == "interrupted" and seen["missing_jobs"] == [{"generator": "g", "dataset": "d", "seed": 0}]
