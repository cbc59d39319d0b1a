"""Progress inside long jobs: a generator's reports reach the serial and the process executor's
callback and the jobs bar; they are throttled, change no number, and vanish with --no-progress."""

from __future__ import annotations

import numpy as np
import pytest

from bench import harness
from bench.cli import main
from bench.core.progress import (
    JobEstimate,
    Progress,
    ProgressBoard,
    describe_progress,
    finished_line,
    format_seconds,
)
from bench.executors import ProcessExecutor, RayExecutor, SerialExecutor, accepts_progress
from bench.records import JobRecord
from generators import registry
from generators.base import Generator

STEPS = 7


class Stepper(Generator):
    """Reports ``STEPS`` training steps, then samples the training records' code rates."""

    name = "stepper"
    supports_conditioning = True

    def __init__(self, steps: int = STEPS, random_state=None):
        self.steps = steps
        self.random_state = random_state

    def fit(self, data):
        for i in range(self.steps):
            self._report_progress(i + 1, self.steps, "step")
        self.p_ = data.X.mean(axis=0)
        self.fitted_ = True
        return self

    def sample(self, n, labels=None):
        rng = np.random.default_rng(self.random_state)
        X = (rng.random((n, self.p_.size)) < self.p_).astype(np.float32)
        return X, np.zeros(n, dtype=np.int64) if labels is None else labels


@pytest.fixture(autouse=True)
def _test_generators():
    registry.register(Stepper)
    yield
    registry._extra.pop(Stepper.name, None)  # only ours: other modules register theirs at import


def _prep():
    return harness.prepare(harness.RunConfig(generators=["stepper"], datasets=["toy"], seeds=[0],
                                             metrics=["dimwise_probability"]))


# ------------------------------------------------------------------------- the generator's helper
def test_the_callback_is_no_hyperparameter_and_silent_by_default():
    gen = Stepper(random_state=0)
    assert "progress_callback" not in gen.get_params() and gen.progress_callback is None
    gen._report_progress(1, 2, "step")  # no callback: nothing happens, nothing fails


def test_reports_are_throttled_keeping_each_phases_first_and_last():
    heard = []
    gen = Stepper()
    gen.progress_callback = lambda d, t, u: heard.append((d, t, u))
    for i in range(20000):
        gen._report_progress(i + 1, 20000, "update")
    for i in range(3):
        gen._report_progress(i + 1, 3, "epoch")
    assert heard[0] == (1, 20000, "update") and (20000, 20000, "update") in heard
    assert len([h for h in heard if h[2] == "update"]) < 50  # a tight loop, a few reports a second
    assert heard[-2:] == [(1, 3, "epoch"), (3, 3, "epoch")]  # a new phase reports at once


def test_a_failing_display_never_ends_a_training():
    def broken(done, total, unit):
        raise OSError("the terminal went away")

    gen = Stepper()
    gen.progress_callback = broken
    gen._report_progress(1, 2, "step")
    assert gen.progress_callback is None
    wrapped = Progress(broken)
    wrapped(1, 2, "step")
    assert not wrapped
    assert describe_progress(3, 10, "epoch") == "epoch 3/10" and describe_progress(0, 0, "sample") == "sample"


# ----------------------------------------------------------------- every neural generator reports
# the phases each one's training loop reports; CTGAN and TVAE only at the start and the end of the
# package's fit, which offers no hook
PHASES = {
    "meddiff": {"update"}, "ehrdiff": {"update"}, "ehrgpt": {"update"},
    "medgan": {"pretrain update", "gan iteration"}, "corgan": {"pretrain update", "gan iteration"},
    "emrwgan": {"gan iteration"}, "dpgan": {"gan iteration"}, "ctgan": {"epoch"}, "tvae": {"epoch"},
}


@pytest.mark.parametrize("name", sorted(PHASES))
def test_every_neural_generator_reports_each_phase_to_its_end(name, toy):
    cls = registry.get_class(name)
    small = {k: 1 for k in ("epochs", "ae_epochs") if k in cls.param_names()}  # one epoch per phase
    if "max_updates" in cls.param_names():  # quick's cap would replace the epochs (thousands of updates)
        small["max_updates"] = cls.param_defaults()["max_updates"]
    gen = cls(**{**cls.presets.get("quick", {}), **small, "random_state": 0})
    heard = []
    gen.progress_callback = lambda d, t, u: heard.append((d, t, u))
    gen.fit(toy if gen.supports_conditioning else toy.with_label_as_column())
    assert {u for _, _, u in heard} == PHASES[name]
    for unit in PHASES[name]:
        mine = [(d, t) for d, t, u in heard if u == unit]
        assert mine[0][0] <= 1 and mine[-1][0] == mine[-1][1] > 0, (unit, mine)  # from the start to the end
        assert all(a[0] <= b[0] for a, b in zip(mine, mine[1:], strict=False))


# ----------------------------------------------------------------------------------- executors
def _heard(executor):
    prep = _prep()
    heard = []
    records = list(executor.run(harness.run_job, prep, prep.jobs, None,
                                progress=lambda job, d, t, u: heard.append((job.id, d, t, u))))
    executor.close()
    [(job, record)] = records
    assert record.ok, record.error
    return job, heard, record


@pytest.mark.parametrize("make", [SerialExecutor, lambda: ProcessExecutor(1)], ids=["local", "process"])
def test_a_generators_progress_reaches_the_executors_callback(make):
    job, heard, _ = _heard(make())
    assert {h[0] for h in heard} == {job.id}
    units = [h[3] for h in heard]
    assert units[0] == "fit" and "sample" in units and "metric dimwise_probability" in units
    assert (job.id, 1, STEPS, "step") in heard and (job.id, STEPS, STEPS, "step") in heard  # first, last
    assert units.index("step") < units.index("sample") < units.index("metric dimwise_probability")


def test_progress_changes_no_record():
    prep = _prep()
    quiet = harness.run_job(prep, prep.jobs[0])
    _, _, loud = _heard(SerialExecutor())
    assert quiet.scores == loud.scores and quiet.history == loud.history and quiet.params == loud.params


def test_every_builtin_executor_takes_the_progress_argument():
    assert accepts_progress(SerialExecutor()) and accepts_progress(ProcessExecutor(1))
    assert "progress" in RayExecutor.run.__code__.co_varnames  # accepted, ignored (documented)

    class ThirdParty:
        def run(self, job_fn, prep, jobs, synthetic_dir):  # pragma: no cover - never run
            return iter(())

    assert not accepts_progress(ThirdParty())


# ---------------------------------------------------------------------------------- the jobs bar
def _cli(tmp_path, *extra):
    return main(["run", "-g", "stepper", "-d", "toy", "-s", "0", "-m", "dimwise_probability",
                 "--results-dir", str(tmp_path), *extra])


@pytest.mark.parametrize("executor", ["local", "process"])
def test_the_bar_shows_the_running_jobs_progress(tmp_path, capsys, monkeypatch, executor):
    monkeypatch.setenv("EHRBENCH_PROGRESS", "1")  # the test suite turns bars off (conftest)
    assert _cli(tmp_path, "--executor", executor) == 0
    err = capsys.readouterr().err
    assert f"stepper__toy__s0: step {STEPS}/{STEPS}" in err  # the postfix of the jobs bar
    assert "stepper__toy__s0: metric dimwise_probability 0/1" in err


def _quiet(err: str) -> bool:
    """No bar (tqdm redraws with carriage returns) and no job progress in the output."""
    return f"step {STEPS}/{STEPS}" not in err and "\r" not in err and "job/s" not in err


def test_no_progress_prints_no_bar_but_a_line_per_finished_job(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EHRBENCH_PROGRESS", "1")
    assert _cli(tmp_path / "flag", "--no-progress", "-s", "0,1", "--no-baseline") == 0
    err = capsys.readouterr().err
    assert _quiet(err), err
    lines = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert [ln.split(":")[0] for ln in lines] == ["[1/2] stepper on toy, seed 0", "[2/2] stepper on toy, seed 1"]
    assert all(ln.endswith(", ok") and ": fit " in ln and ", sample " in ln for ln in lines), lines
    monkeypatch.setenv("EHRBENCH_PROGRESS", "0")
    assert _cli(tmp_path / "env") == 0
    err = capsys.readouterr().err
    assert _quiet(err), err
    assert "[2/2] stepper on toy, seed 0: fit " in err  # after the independent baseline


def test_the_bar_shows_no_time_left_averaged_over_jobs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EHRBENCH_PROGRESS", "1")
    assert _cli(tmp_path, "-s", "0,1") == 0
    bar = [seg for seg in capsys.readouterr().err.split("\r") if seg.startswith("jobs:")]
    assert bar and all("<" not in seg and "job/s" not in seg and "s/job" not in seg for seg in bar), bar
    assert "jobs: 4/4 [" in bar[-1]  # stepper and the independent baseline, two seeds each


# ------------------------------------------------------------------------ each job's own estimate
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_jobs_estimate_comes_from_its_own_counter():
    clock = Clock()
    board = ProgressBoard(clock)
    board.report("medgan__s0", 0, 1000, "gan iteration")
    board.report("independent__s0", 0, 0, "fit")
    clock.now += 10.0
    board.report("medgan__s0", 100, 1000, "gan iteration")  # 10 updates a second: 90 s left
    board.report("independent__s0", 0, 0, "sample")  # a stage without a count: no estimate
    assert board.jobs["medgan__s0"].seconds_left() == pytest.approx(90.0)
    assert board.line() == "medgan__s0: gan iteration 100/1000 ~1 min 30 s left | independent__s0: sample"
    board.report("ehrdiff__s0", 0, 50, "update")
    clock.now += 5.0
    board.report("ehrdiff__s0", 25, 50, "update")  # 5 updates a second, whatever medGAN does
    assert board.jobs["ehrdiff__s0"].seconds_left() == pytest.approx(5.0)
    assert board.jobs["medgan__s0"].seconds_left() == pytest.approx(900 * 15 / 100)
    board.finish("medgan__s0")
    assert "medgan" not in board.line()


def test_a_new_phase_starts_its_own_clock_and_young_phases_guess_nothing():
    clock = Clock()
    est = JobEstimate(clock)
    est.update(0, 100, "pretrain update")
    clock.now += 50.0
    est.update(100, 100, "pretrain update")
    assert est.seconds_left() is None  # a finished phase
    est.update(1, 10, "gan iteration")
    clock.now += 0.5
    est.update(2, 10, "gan iteration")
    assert est.seconds_left() is None  # half a second says too little
    clock.now += 1.5
    est.update(5, 10, "gan iteration")  # 4 iterations in 2 s, not the pre-training's rate
    assert est.seconds_left() == pytest.approx(2.5)
    assert est.describe() == "gan iteration 5/10 ~2 s left"


def test_durations_read_as_a_person_writes_them():
    assert [format_seconds(s) for s in (0.4, 45, 200, 3725, -3)] == ["0 s", "45 s", "3 min 20 s", "1 h 02 min",
                                                                     "0 s"]


def test_a_finished_line_names_the_job_its_times_and_status():
    ok = JobRecord("medgan", "eunomia", 2, 100, fit_s=7.234, sample_s=0.05)
    assert finished_line(ok, 3, 9) == "[3/9] medgan on eunomia, seed 2: fit 7.2 s, sample 0.1 s, ok"
    bad = JobRecord.failed("hang", "toy", 0, 10, "timeout: job exceeded 4 s", wall_s=4.0)
    assert finished_line(bad, 1, 1) == "[1/1] hang on toy, seed 0: fit -, sample -, error: timeout: job exceeded 4 s"
