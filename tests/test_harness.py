from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import harness
from bench.cli import main
from generators import registry
from generators.base import Generator

METRICS = "dimwise_probability,tstr_lr,mia_dcr,speed"


class Exploding(Generator):
    """Fails in fit, as a buggy generator would."""

    name = "exploding"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        raise RuntimeError("boom")

    def sample(self, n, labels=None):  # pragma: no cover - never reached
        raise AssertionError


class Unconditional(Generator):
    """Records the data it was fitted on, to check the label-as-column contract."""

    name = "unconditional"
    seen: list[int] = []

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        Unconditional.seen.append(data.n_codes)
        assert data.y is None and data.columns[-1].startswith("__label__")
        self.X_ = data.X
        self.fitted_ = True
        return self

    def sample(self, n, labels=None):
        rng = np.random.default_rng(self.random_state)
        return self.X_[rng.integers(0, len(self.X_), n)], None


@pytest.fixture(autouse=True)
def _test_generators():
    registry.register(Exploding)
    registry.register(Unconditional)
    yield
    for name in ("exploding", "unconditional", "oneclass"):  # only ours: other modules register theirs at import
        registry._extra.pop(name, None)


def _run(tmp_path, *extra, gens="independent,real-copy", seeds="0,1"):
    argv = ["run", "-g", gens, "-d", "toy", "-s", seeds, "-m", METRICS, "--results-dir", str(tmp_path),
            "--no-progress", *extra]
    return main(argv)


def _only_run_dir(tmp_path):
    dirs = sorted((tmp_path / "runs").iterdir())
    assert len(dirs) == 1
    return dirs[0]


def test_run_writes_every_table_with_provenance(tmp_path, capsys):
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "| independent † |" in out and "| real-copy † |" in out  # references: rows apart, marked
    d = _only_run_dir(tmp_path)
    # the printed output is the headline (one row per generator), then where the full tables are
    assert "## toy: headline" in out and "### fidelity" not in out  # no per-score table printed
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| generator")]
    assert len(rows) <= 15
    assert f"Full tables in {d}:" in out and "leaderboard.md" in out and "tables/" in out
    assert f"results: {d}" in out and "preset" in out
    for name in ("scores.csv", "timings.csv", "jobs.csv", "manifest.json", "leaderboard.md", "leaderboard.tex",
                 "headline.md", "tables/fidelity.md", "tables/privacy.tex"):
        assert (d / name).is_file(), name
    md = (d / "leaderboard.md").read_text()
    assert md.index("## toy: headline") < md.index("### fidelity")  # the headline heads the full tables
    scores = pd.read_csv(d / "scores.csv")
    assert set(scores.columns) >= {"generator", "dataset", "seed", "metric", "score", "value", "goal"}
    assert set(scores["generator"]) == {"independent", "real-copy"}
    assert set(scores["seed"]) == {0, 1}
    jobs = pd.read_csv(d / "jobs.csv")
    assert len(jobs) == 4 and (jobs["status"] == "ok").all()
    assert jobs[["fit_s", "sample_s", "peak_mem_mb"]].notna().all().all()
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "complete" and m["config"]["seeds"] == [0, 1]
    toy = m["datasets"]["toy"]
    assert toy["dataset"]["fingerprint"] and toy["dataset"]["records"] == 600
    splits = toy["splits"]  # each seed its own split: fingerprints of every part, per seed
    assert set(splits) == {"0", "1"} and splits["0"]["split_seed"] == 0 and splits["1"]["split_seed"] == 1
    assert splits["0"]["train"] != splits["1"]["train"] and splits["0"]["test"] != splits["1"]["test"]
    assert splits["0"]["records"] == {"train": 420, "validation": 60, "test": 120}
    assert m["packages"]["numpy"] and m["packages"]["torch"]
    assert m["command"][:4] == ["python", "-m", "bench", "run"]


def test_results_hold_aggregates_only(tmp_path, toy):
    _run(tmp_path, "--seeds", "0")
    d = _only_run_dir(tmp_path)
    for path in d.rglob("*"):
        if not path.is_file():
            continue
        text = pd.read_parquet(path).to_csv() if path.suffix == ".parquet" else path.read_text()
        for line in text.splitlines():
            tokens = line.replace("[", ",").replace("]", ",").replace(" ", ",").split(",")
            cells = sum(t.strip() in {"0", "1", "0.0", "1.0"} for t in tokens)
            assert cells < toy.n_codes // 2, f"{path.name} looks like it holds a record"
    assert not (d / "synthetic").exists()  # synthetic rows only when asked


def test_saved_synthetic_records_never_include_the_copy_baselines_real_rows(tmp_path):
    """``--save-synthetic`` writes what each generator made; real-copy's records are the training
    rows themselves, so they are never written (they would put real patients under results/)."""
    assert _run(tmp_path, "--seeds", "0", "--save-synthetic") == 0
    saved = sorted(p.name for p in (_only_run_dir(tmp_path) / "synthetic").iterdir())
    assert saved and all(name.startswith("independent") for name in saved), saved


def test_membership_inference_flags_the_copying_generator(tmp_path):
    _run(tmp_path)
    scores = pd.read_csv(_only_run_dir(tmp_path) / "scores.csv")
    mia = scores[scores["score"] == "mia_dcr_auroc"].groupby("generator")["value"].mean()
    assert mia["real-copy"] > 0.7
    assert abs(mia["independent"] - 0.5) < 0.1
    assert mia["real-copy"] > mia["independent"] + 0.2


def test_same_command_twice_gives_identical_scores(tmp_path):
    _run(tmp_path / "a")
    _run(tmp_path / "b")
    a = (_only_run_dir(tmp_path / "a") / "scores.csv").read_bytes()
    b = (_only_run_dir(tmp_path / "b") / "scores.csv").read_bytes()
    assert a == b


def test_a_failing_generator_is_recorded_and_the_others_go_on(tmp_path, capsys):
    assert _run(tmp_path, gens="exploding,real-copy", seeds="0") == 0
    out = capsys.readouterr().out
    assert "1 of 3 jobs failed" in out and "exploding on toy, seed 0: RuntimeError: boom" in out
    d = _only_run_dir(tmp_path)
    jobs = pd.read_csv(d / "jobs.csv").set_index("generator")
    assert jobs.loc["exploding", "status"] == "error"
    assert "RuntimeError: boom" in jobs.loc["exploding", "error"]
    assert jobs.loc["real-copy", "status"] == "ok" and jobs.loc["independent", "status"] == "ok"
    assert "exploding seed 0 failed" in (d / "leaderboard.md").read_text()


def test_unconditional_generators_get_the_label_as_a_column(tmp_path):
    Unconditional.seen.clear()
    assert _run(tmp_path, gens="unconditional", seeds="0") == 0
    assert Unconditional.seen == [25]  # 24 codes + the label
    scores = pd.read_csv(_only_run_dir(tmp_path) / "scores.csv")
    tstr = scores[(scores["generator"] == "unconditional") & (scores["score"] == "tstr_lr_auroc")]
    assert tstr["value"].notna().all()  # the label came back and utility could be scored


def test_rerun_resumes_and_recomputes_only_missing_jobs(tmp_path):
    _run(tmp_path)
    d = _only_run_dir(tmp_path)
    before = (d / "scores.csv").read_bytes()
    victim = next((d / "jobs").glob("real-copy__toy__s1.json"))
    victim.unlink()
    assert _run(tmp_path) == 0
    assert _only_run_dir(tmp_path) == d
    m = json.loads((d / "manifest.json").read_text())
    assert m["jobs"] == {"total": 4, "run": 1, "reused": 3, "failed": 0}
    assert (d / "scores.csv").read_bytes() == before


def test_an_unreadable_job_record_is_run_again_with_a_note(tmp_path, capsys):
    _run(tmp_path, seeds="0")
    d = _only_run_dir(tmp_path)
    before = (d / "scores.csv").read_bytes()
    (d / "jobs" / "real-copy__toy__s0.json").write_text("{ truncated")
    capsys.readouterr()
    assert _run(tmp_path, seeds="0") == 0
    assert "real-copy__toy__s0.json is unreadable; the job is run again" in capsys.readouterr().err
    assert json.loads((d / "manifest.json").read_text())["jobs"]["run"] == 1
    assert (d / "scores.csv").read_bytes() == before


def test_force_starts_a_new_run(tmp_path):
    _run(tmp_path, seeds="0")
    _run(tmp_path, "--force", seeds="0")
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_metric_that_cannot_run_records_why(tmp_path):
    class OneClass(Unconditional):
        name = "oneclass"
        supports_conditioning = True

        def fit(self, data):
            self.X_ = data.X
            self.fitted_ = True
            return self

        def sample(self, n, labels=None):
            return self.X_[:n] if n <= len(self.X_) else np.resize(self.X_, (n, self.X_.shape[1])), np.zeros(n, int)

    registry.register(OneClass)
    _run(tmp_path, gens="oneclass", seeds="0")
    scores = pd.read_csv(_only_run_dir(tmp_path) / "scores.csv")
    row = scores[(scores["generator"] == "oneclass") & (scores["score"] == "tstr_lr_auroc")].iloc[0]
    assert np.isnan(row["value"]) and "one class" in row["note"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", "nosuch"], "unknown generator 'nosuch'; valid generators: "),
        (["-d", "nosuch"], "unknown dataset 'nosuch'; valid datasets: "),
        (["-m", "nosuch"], "unknown metric 'nosuch'; valid metrics: "),
        (["-g", "independent:foo=1"], "unknown option 'foo'"),
        (["-s", "a,b"], "--seeds"),
        (["--n-synthetic", "0"], "--n-synthetic"),
        (["--preset", "cpU"], "unknown --preset 'cpU'; valid presets: cpu, quick"),
        (["--device", "tpu"], "device must be auto, cpu or cuda"),
    ],
)
def test_bad_names_exit_2_with_the_valid_ones_and_write_nothing(tmp_path, capsys, args, message):
    argv = ["run", "-d", "toy", "-m", "dimwise_probability", "--results-dir", str(tmp_path), "--no-progress", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_out_directory_of_another_configuration_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    assert _run(tmp_path, "--out", str(out), seeds="0") == 0
    assert _run(tmp_path, "--out", str(out), seeds="1") == 2
    assert "another configuration" in capsys.readouterr().err


def test_prepared_grid_orders_jobs_by_dataset_generator_seed():
    cfg = harness.RunConfig(generators=["independent", "real-copy"], datasets=["toy"], seeds=[0, 1],
                            metrics=["dimwise_probability"])
    prep = harness.prepare(cfg)
    assert [j.id for j in prep.jobs] == [
        "independent__toy__s0", "independent__toy__s1", "real-copy__toy__s0", "real-copy__toy__s1"]


class Interrupter(Generator):
    """Fits like a coin, but its second fit is a Ctrl-C: a run stopped halfway."""

    name = "interrupter"
    fits = 0

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, data):
        Interrupter.fits += 1
        if Interrupter.fits == 2:
            raise KeyboardInterrupt
        self.n_codes_ = data.n_codes
        return self

    def sample(self, n, labels=None):
        return (np.random.default_rng(self.random_state).random((n, self.n_codes_)) < 0.2).astype("float32"), None


def test_an_interrupted_run_says_so_and_its_tables_name_the_missing_jobs(tmp_path, capsys):
    registry.register(Interrupter)
    Interrupter.fits = 0
    try:
        assert _run(tmp_path, "--no-baseline", gens="interrupter", seeds="0,1,2") == 130
    finally:
        registry._extra.pop("interrupter", None)
    d = _only_run_dir(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "interrupted" and m["interrupted"] == "interrupted (Ctrl-C)"
    assert m["jobs"] == {"total": 3, "run": 1, "reused": 0, "failed": 0, "missing": 2}
    assert [j["seed"] for j in m["missing_jobs"]] == [1, 2]
    for table in ("headline.md", "leaderboard.md", "leaderboard.tex", "tables/fidelity.md"):
        text = (d / table).read_text()
        assert "INCOMPLETE RUN (interrupted (Ctrl-C)): 2 of 3 jobs missing" in text, table
        assert "interrupter on toy, seed 1; interrupter on toy, seed 2" in text, table
    jobs = pd.read_csv(d / "jobs.csv")
    assert jobs.set_index("seed")["status"].to_dict() == {0: "ok", 1: "missing", 2: "missing"}
    assert "seeds" not in m and m["config"]["seeds"] == [0, 1, 2]  # seeds stored once


def test_results_are_written_with_the_users_umask_and_scores_as_parquet(tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        assert _run(tmp_path, seeds="0") == 0
    finally:
        os.umask(old)
    d = _only_run_dir(tmp_path)
    for path in [d / "manifest.json", d / "scores.csv", d / "headline.md", *(d / "jobs").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name  # 0o666 less the umask, not 0o600
    csv = pd.read_csv(d / "scores.csv")
    pq = pd.read_parquet(d / "scores.parquet")
    assert list(pq.columns) == list(csv.columns) and len(pq) == len(csv)
    assert np.allclose(pq["value"].astype(float), csv["value"].astype(float), equal_nan=True)
