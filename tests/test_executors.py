"""Executors: parallel runs give the serial run's scores; limits end a job with its reason; no
process outlives its job."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from bench import harness
from bench.cli import main
from bench.core.errors import OptionError
from bench.executors import EXECUTORS, Limits, SerialExecutor, make_executor
from generators import registry
from generators.base import Generator

METRICS = "dimwise_probability,tstr_lr,mia_dcr,speed"
HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


# Test generators live at module level: a job's process imports them by name.
class Hang(Generator):
    """Starts a grandchild process, writes both pids to ``pidfile``, then never finishes."""

    name = "hang"

    def __init__(self, pidfile: str = "", random_state=None):
        self.pidfile = pidfile
        self.random_state = random_state

    def fit(self, data):
        child = subprocess.Popen(["sleep", "300"])
        with open(self.pidfile + ".tmp", "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        os.replace(self.pidfile + ".tmp", self.pidfile)
        time.sleep(300)
        return self

    def sample(self, n, labels=None):  # pragma: no cover - never reached
        raise AssertionError


class Hog(Generator):
    """Takes memory step by step; returns normally if nothing stops it first."""

    name = "hog"
    supports_conditioning = True

    def __init__(self, max_mb: int = 3000, random_state=None):
        self.max_mb = max_mb
        self.random_state = random_state

    def fit(self, data):
        held = []
        for _ in range(self.max_mb // 50):
            held.append(np.ones(50 * 2**18, dtype=np.float32))  # 50 MB, touched
            time.sleep(0.05)
        self.X_ = data.X
        self.fitted_ = True
        return self

    def sample(self, n, labels=None):
        return self.X_[:n], np.zeros(n, dtype=np.int64) if labels is None else labels


class Segfault(Generator):
    """Dies of SIGSEGV in fit, as a broken native extension would."""

    name = "segfault"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(60)  # pragma: no cover

    def sample(self, n, labels=None):  # pragma: no cover - never reached
        raise AssertionError


class Broken(Generator):
    """Raises in fit: the job's error record comes from run_job itself."""

    name = "broken"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        raise RuntimeError("broken")

    def sample(self, n, labels=None):  # pragma: no cover - never reached
        raise AssertionError


@pytest.fixture(autouse=True)
def _test_generators():
    for cls in (Hang, Hog, Segfault, Broken):
        registry.register(cls)
    yield
    for cls in (Hang, Hog, Segfault, Broken):  # only ours: other modules register theirs at import
        registry._extra.pop(cls.name, None)


def _leftovers() -> list[psutil.Process]:
    """Descendants of this process other than multiprocessing's helpers (and zombies being reaped)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE or any(h in " ".join(p.cmdline()) for h in HELPERS):
                continue
        except psutil.NoSuchProcess:
            continue
        out.append(p)
    return out


@pytest.fixture(autouse=True)
def _no_orphans():
    """Every test ends with no process of its own left behind."""
    yield
    deadline = time.monotonic() + 20
    while _leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _leftovers()
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _run(root, *extra, gens="independent,real-copy", seeds="0,1"):
    argv = ["run", "-g", gens, "-d", "toy", "-s", seeds, "-m", METRICS, "--results-dir", str(root),
            "--no-progress", *extra]
    return main(argv)


def _only_run_dir(root):
    dirs = sorted((root / "runs").iterdir())
    assert len(dirs) == 1
    return dirs[0]


def _jobs(root) -> pd.DataFrame:
    return pd.read_csv(_only_run_dir(root) / "jobs.csv").set_index("generator")


# --------------------------------------------------------------------------- choosing an executor
def test_unknown_executor_exits_2_with_the_valid_names(tmp_path, capsys):
    assert _run(tmp_path, "--executor", "nosuch") == 2
    err = capsys.readouterr().err
    assert "unknown executor 'nosuch'; valid executors: local, process, ray" in err
    assert not (tmp_path / "runs").exists()
    assert EXECUTORS == ("local", "process", "ray")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "local", "jobs": 2}, "needs --executor process or ray"),
        ({"kind": "local", "limits": Limits(timeout_s=5)}, "need --executor process or ray"),
        ({"kind": "process", "jobs": 0}, "--jobs must be at least 1"),
        ({"kind": "process", "ray_address": "10.0.0.1:6379"}, "--ray-address needs --executor ray"),
    ],
)
def test_bad_executor_options_are_refused(kwargs, message):
    with pytest.raises(OptionError, match=message):
        make_executor(**kwargs)


def test_negative_limits_are_refused(tmp_path, capsys):
    assert _run(tmp_path, "--executor", "process", "--timeout", "-1") == 2
    assert "--timeout must be positive" in capsys.readouterr().err


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, installed or not
    assert _run(tmp_path, "--executor", "ray") == 2
    assert "pip install 'ehrbench[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_cuda_without_cuda_exits_2_before_any_work(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert _run(tmp_path, "--device", "cuda") == 2
    err = capsys.readouterr().err
    assert "no CUDA device is available" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_killed_job_gets_the_record_of_a_failed_one():
    prep = harness.prepare(harness.RunConfig(generators=["broken"], datasets=["toy"], seeds=[0],
                                             metrics=["dimwise_probability"]))
    job = prep.jobs[0]
    failed_here = harness.run_job(prep, job)
    assert failed_here.status == "error" and "RuntimeError: broken" in failed_here.error
    killed = prep.failure(job, "timeout: job exceeded 1 s", 1.0)
    assert (killed.generator, killed.dataset, killed.seed, killed.status, killed.n_synthetic) == (
        failed_here.generator, failed_here.dataset, failed_here.seed, failed_here.status, failed_here.n_synthetic)
    assert SerialExecutor().describe()["name"] == "local"


# ---------------------------------------------------------------------------- the process executor
def test_process_executor_gives_the_serial_scores(tmp_path):
    # at the same thread count (float results may depend on it: each job records its own)
    assert _run(tmp_path / "serial", "--threads", "1") == 0
    assert _run(tmp_path / "process", "--executor", "process", "-j", "2", "--timeout", "120",
                "--memory-mb", "4000", "--threads", "1") == 0
    a, b = _only_run_dir(tmp_path / "serial"), _only_run_dir(tmp_path / "process")
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()
    jobs = pd.read_csv(b / "jobs.csv")
    assert len(jobs) == 4 and (jobs["status"] == "ok").all()
    m = json.loads((b / "manifest.json").read_text())
    assert m["executor"]["name"] == "process" and m["executor"]["jobs"] == 2
    assert m["executor"]["timeout_s"] == 120 and m["executor"]["memory_mb"] == 4000
    assert m["device"]["requested"] == "cpu" and m["device"]["resolved"] == "cpu"
    assert m["executor"]["threads_per_job"] == 1
    assert json.loads((a / "manifest.json").read_text())["executor"]["name"] == "local"
    assert all(json.loads(p.read_text())["threads"] == 1 for p in (b / "jobs").glob("*.json"))
    assert (jobs["threads"] == 1).all()  # jobs.csv carries each job's thread count too


def test_the_next_job_starts_before_the_caller_handles_a_finished_one():
    # whatever the caller does with a record (write it, rebuild the tables: seconds in a large run
    # folder), the freed worker already runs the next job; it used to wait for the caller
    prep = harness.prepare(harness.RunConfig(generators=["independent"], datasets=["toy:n_records=200"],
                                             seeds=[0, 1, 2], metrics=["dimwise_probability"]))
    ex = make_executor("process", jobs=1, limits=Limits(None, None), threads=1)
    running_when_handed = [[r.job.id for r in ex._running] for _job, _record in ex.run(harness.run_job, prep, prep.jobs, None)]
    assert running_when_handed == [[prep.jobs[1].id], [prep.jobs[2].id], []]


def test_tables_are_rebuilt_no_more_often_than_their_cost_allows(tmp_path, monkeypatch):
    clock = {"now": 0.0}
    calls = []

    def slow_tables(*args):  # a rebuild of 2 s on the fake clock
        calls.append(clock["now"])
        clock["now"] += 2.0

    monkeypatch.setattr(harness.time, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(harness, "write_tables", slow_tables)
    prep = harness.prepare(harness.RunConfig(generators=["independent"], datasets=["toy:n_records=200"],
                                             seeds=[0], metrics=["dimwise_probability"]))
    refresh = harness._TableRefresh(tmp_path, prep)
    for _ in range(30):  # a job finishes every second
        refresh.after_job()
        clock["now"] += 1.0
    # the first at once, then each 10 x 2 s after the last ended: rebuilding is a tenth of the time
    assert calls == [0.0, 22.0]
    assert harness.TABLE_REFRESH_FACTOR == 10.0


def test_a_job_past_its_timeout_is_killed_with_what_it_started(tmp_path):
    pidfile = tmp_path / "pids"
    assert _run(tmp_path, "--executor", "process", "-j", "2", "--timeout", "4",
                gens=f"hang:pidfile={pidfile},real-copy", seeds="0") == 0
    jobs = _jobs(tmp_path)
    hang = jobs.loc[f"hang:pidfile={pidfile}"]
    assert hang["status"] == "error" and hang["error"] == "timeout: job exceeded 4 s"
    assert jobs.loc["real-copy", "status"] == "ok" and jobs.loc["independent", "status"] == "ok"
    job_pid, grandchild = map(int, pidfile.read_text().split())
    assert _gone(job_pid) and _gone(grandchild)


def test_a_job_past_its_memory_cap_is_killed_and_recorded(tmp_path):
    assert _run(tmp_path, "--executor", "process", "--memory-mb", "1000", gens="hog,real-copy", seeds="0") == 0
    jobs = _jobs(tmp_path)
    assert jobs.loc["hog", "status"] == "error"
    assert jobs.loc["hog", "error"].startswith("memory: ")
    assert jobs.loc["hog", "error"].endswith("MB exceeded the cap of 1000 MB")
    assert jobs.loc["real-copy", "status"] == "ok" and jobs.loc["independent", "status"] == "ok"


def test_a_crashed_job_is_recorded_with_its_exit_code(tmp_path):
    assert _run(tmp_path, "--executor", "process", "-j", "2", gens="segfault,real-copy", seeds="0") == 0
    jobs = _jobs(tmp_path)
    assert jobs.loc["segfault", "status"] == "error"
    assert "exit code -11 (SIGSEGV" in jobs.loc["segfault", "error"]
    assert jobs.loc["real-copy", "status"] == "ok"


def test_ctrl_c_leaves_no_job_running(tmp_path, capsys):
    pidfile = tmp_path / "pids"

    def interrupt_once_started():
        # on a loaded machine the fork server's preload (torch, sklearn) can take minutes: wait
        # for the job itself rather than interrupt the start-up
        deadline = time.monotonic() + 240
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the driver is back in its wait loop, the job in its sleep
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C delivers

    # a shell starts background commands with SIGINT ignored and Python keeps that disposition:
    # give the run the interactive one, whatever launched the suite
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        t = threading.Thread(target=interrupt_once_started, daemon=True)
        t.start()
        code = _run(tmp_path, "--executor", "process", "-j", "2", gens=f"hang:pidfile={pidfile}", seeds="0")
        t.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130 and "interrupted" in capsys.readouterr().err
    job_pid, grandchild = map(int, pidfile.read_text().split())
    assert _gone(job_pid) and _gone(grandchild)


# -------------------------------------------------------------------------------- the ray executor
# Ray's start-up costs about 10-20 s a test: the second tier (docs/ci.md)
@pytest.mark.tier2
def test_ray_executor_on_a_local_instance_gives_the_serial_scores(tmp_path):
    pytest.importorskip("ray")
    assert _run(tmp_path / "serial", "--threads", "1") == 0
    assert _run(tmp_path / "ray", "--executor", "ray", "-j", "2", "--threads", "1") == 0
    a, b = _only_run_dir(tmp_path / "serial"), _only_run_dir(tmp_path / "ray")
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()
    assert (pd.read_csv(b / "jobs.csv")["status"] == "ok").all()
    m = json.loads((b / "manifest.json").read_text())
    assert m["executor"] == {"name": "ray", "jobs": 2, "timeout_s": None, "memory_mb": None,
                             "ray_address": "local", "threads_per_job": 1}
    assert all(json.loads(p.read_text())["threads"] == 1 for p in (b / "jobs").glob("*.json"))
    import ray

    assert not ray.is_initialized()  # the local instance was shut down


@pytest.mark.tier2
def test_ray_executor_spreads_jobs_over_the_nodes_of_a_cluster(tmp_path):
    """Two Ray nodes on this machine (Ray's own test cluster) stand in for two machines: the
    driver connects by address, jobs run on both nodes, and the scores are the serial run's."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    assert _run(tmp_path / "serial", "--threads", "1", seeds="0,1,2") == 0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = cluster.address
        code = _run(tmp_path / "ray", "--executor", "ray", "-j", "2", "--ray-address", address, "--threads", "1",
                    seeds="0,1,2")
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    assert code == 0
    a, b = _only_run_dir(tmp_path / "serial"), _only_run_dir(tmp_path / "ray")
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()
    nodes = {json.loads(p.read_text())["ray_node"] for p in (b / "jobs").glob("*.json")}
    assert len(nodes) == 2  # six one-CPU jobs, two at a time, on two one-CPU nodes
    assert json.loads((b / "manifest.json").read_text())["executor"]["ray_address"] == address
