"""Progress inside long jobs: a generator's reports reach the serial and the process executor's
callback and the jobs bar; they are throttled, change no number, and vanish with --no-progress."""

from __future__ import annotations

import numpy as np
import pytest

from bench import harness
from bench.cli import main
from bench.core.progress import Progress, describe_progress
from bench.executors import ProcessExecutor, RayExecutor, SerialExecutor, accepts_progress
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


def test_no_progress_prints_no_bar(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EHRBENCH_PROGRESS", "1")
    assert _cli(tmp_path / "flag", "--no-progress") == 0
    err = capsys.readouterr().err
    assert _quiet(err), err
    monkeypatch.setenv("EHRBENCH_PROGRESS", "0")
    assert _cli(tmp_path / "env") == 0
    err = capsys.readouterr().err
    assert _quiet(err), err
