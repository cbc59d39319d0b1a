"""Thread budgets: a block, a serial job and a worker process's job compute in exactly the threads
they are given (torch, OpenMP, BLAS), idle OpenMP workers wait passively, and every job records
its count (float results depend on it)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import threadpoolctl
import torch

from bench import harness
from bench.cli import main
from bench.core import threads as th
from bench.core.errors import OptionError
from bench.executors import ProcessExecutor, SerialExecutor, make_executor
from generators import registry
from generators.base import Generator


def _pools() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}


# Module level: a job's process imports it by name.
class Probe(Generator):
    """Records, from inside its fit, the threads and wait policy it computes with."""

    name = "thread-probe"
    supports_conditioning = True

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        self.seen_ = {"torch": torch.get_num_threads(), "pools": sorted(set(_pools().values())),
                      "omp_env": os.environ.get("OMP_NUM_THREADS"),
                      "wait": os.environ.get("OMP_WAIT_POLICY"), "spin": os.environ.get("GOMP_SPINCOUNT")}
        self.p_ = data.X.mean(axis=0)
        return self

    def sample(self, n, labels=None):
        rng = np.random.default_rng(self.random_state)
        X = (rng.random((n, self.p_.size)) < self.p_).astype(np.float32)
        return X, np.zeros(n, dtype=np.int64) if labels is None else labels

    def diagnostics(self):
        return {f"seen_{k}": v for k, v in self.seen_.items()}


@pytest.fixture(autouse=True)
def _probe():
    registry.register(Probe)
    yield
    registry._extra.pop(Probe.name, None)


def _prep(seeds=(0,)):
    return harness.prepare(harness.RunConfig(generators=["thread-probe"], datasets=["toy"], seeds=list(seeds),
                                             metrics=["dimwise_probability"]))


# ------------------------------------------------------------------------------ the budget itself
def test_a_budget_sets_every_pool_and_the_environment_then_restores_them(monkeypatch):
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    import sklearn.linear_model  # noqa: F401  (loads scikit-learn's OpenMP: one more pool to limit)

    torch.set_num_threads(2)
    before_pools, before_env = _pools(), os.environ.get("OMP_NUM_THREADS")
    with th.thread_budget(1) as k:
        assert k == 1 and torch.get_num_threads() == 1
        assert set(_pools().values()) == {1}
        assert all(os.environ[v] == "1" for v in th.THREAD_VARS)
        with th.thread_budget(2):  # nested: the inner budget, then the outer one again
            assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == 2 and _pools() == before_pools
    assert os.environ.get("OMP_NUM_THREADS") == before_env and "MKL_NUM_THREADS" not in os.environ


def test_a_budget_is_restored_when_the_block_raises():
    before = torch.get_num_threads()
    with pytest.raises(KeyError), th.thread_budget(1):
        raise KeyError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_budget_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="positive integer"), th.thread_budget(bad):
        pass  # pragma: no cover


@pytest.mark.parametrize(("omp", "cores", "jobs", "want"), [
    (None, 2, 1, 2), (None, 2, 2, 1), (None, 16, 3, 5), (None, 2, 4, 1),
    ("4", 2, 1, 4), ("4", 2, 2, 2), ("1", 16, 2, 1), ("junk", 8, 2, 4), ("0", 8, 1, 8),
])
def test_the_default_is_each_jobs_share_of_the_cores(monkeypatch, omp, cores, jobs, want):
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    monkeypatch.setattr(th, "usable_cores", lambda: cores)
    assert th.default_threads(jobs) == want


def test_idle_workers_spin_briefly_unless_the_user_chose():
    """A short spin, not PASSIVE's none: woken from sleep for every small operator, TVAE's and
    medGAN's updates ran 5x and 2.2x slower at two threads (bench/core/threads.py)."""
    env: dict[str, str] = {}
    th.passive_waiting(env)
    assert env == {"GOMP_SPINCOUNT": "10000"}
    for chosen in ({"OMP_WAIT_POLICY": "PASSIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "5"}):
        env = dict(chosen)
        th.passive_waiting(env)
        assert env == chosen


# ------------------------------------------------------------------------------------ executors
def test_make_executor_gives_each_job_its_share(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert make_executor("local").threads == 4
    assert make_executor("process", jobs=2).threads == 2
    assert make_executor("process", jobs=3).threads == 1
    assert make_executor("process", jobs=2, threads=3).threads == 3
    for bad in (0, -2):
        with pytest.raises(OptionError, match="--threads must be a positive integer"):
            make_executor("local", threads=bad)


def test_a_serial_job_computes_in_its_budget_and_records_it():
    torch.set_num_threads(2)
    prep = _prep()
    [(_, record)] = list(SerialExecutor(threads=1).run(harness.run_job, prep, prep.jobs, None))
    assert record.ok, record.error
    assert record.threads == 1 and record.diagnostics["seen_torch"] == 1
    assert record.diagnostics["seen_pools"] == [1] and record.diagnostics["seen_omp_env"] == "1"
    assert torch.get_num_threads() == 2  # the run's own threads are back after the job
    [(_, free)] = list(SerialExecutor().run(harness.run_job, prep, prep.jobs, None))  # no budget: as it was
    assert free.threads == 2 and free.diagnostics["seen_torch"] == 2


def test_worker_processes_compute_in_their_budget_and_spin_briefly(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    prep = _prep(seeds=(0, 1))
    executor = ProcessExecutor(2, threads=1)
    torch.set_num_threads(2)
    try:
        records = [r for _, r in executor.run(harness.run_job, prep, prep.jobs, None)]
    finally:
        executor.close()
    assert len(records) == 2
    for r in records:
        assert r.ok, r.error
        assert r.threads == 1 and r.diagnostics["seen_torch"] == 1 and r.diagnostics["seen_pools"] == [1]
        # the fork server may predate this test (started by another in this process): then it has
        # the environment of its first start, which set the policy the same way
        assert r.diagnostics.get("seen_wait") is None and r.diagnostics["seen_spin"] == "10000"
    assert executor.describe()["threads_per_job"] == 1


# ------------------------------------------------------------------------------ the command line
def _cli(root, *extra):
    return main(["run", "-g", "thread-probe", "-d", "toy", "-s", "0", "-m", "dimwise_probability", "--no-baseline",
                 "--results-dir", str(root), "--no-progress", *extra])


def test_the_thread_count_is_in_every_job_record_and_the_manifest(tmp_path):
    assert _cli(tmp_path, "--threads", "1") == 0
    [run] = list((tmp_path / "runs").iterdir())
    record = json.loads((run / "jobs" / "thread-probe__toy__s0.json").read_text())
    assert record["threads"] == 1 and record["diagnostics"]["seen_torch"] == 1
    assert json.loads((run / "manifest.json").read_text())["executor"]["threads_per_job"] == 1


def test_a_bad_thread_count_exits_2_naming_the_option(tmp_path, capsys):
    assert _cli(tmp_path, "--threads", "0") == 2
    err = capsys.readouterr().err
    assert "--threads must be a positive integer" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing half-written
