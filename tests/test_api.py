"""The Python API (bench.api): the README's script runs as it stands; the API and the CLI build
the same configuration; the result object reads a run folder (issue 27)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import Benchmark, BenchmarkResult, api, run_benchmark
from bench.cli import main
from bench.core.errors import OptionError
from generators.baselines import RealCopyGenerator

ROOT = Path(__file__).resolve().parent.parent
METRICS = ["dimwise_probability", "tstr_lr"]


def readme_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- api-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its API example"
    return m.group(1)


def test_the_readme_script_runs_meddiff_and_medgan_on_eunomia_and_prints_the_headline(tmp_path):
    script = readme_script()
    assert len(script.strip().splitlines()) <= 10
    assert "from bench import run_benchmark" in script and "print(result.headline)" in script
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=170)
    assert out.returncode == 0, out.stderr
    assert "## eunomia: headline" in out.stdout
    for row in ("| meddiff", "| medgan", "| independent †"):
        assert row in out.stdout, row
    run_dir = next((tmp_path / "results" / "runs").iterdir())
    assert BenchmarkResult(run_dir).status == "complete"


def test_result_object_holds_the_scores_tables_and_folder(tmp_path):
    result = run_benchmark(["real-copy"], datasets="toy", seeds=[0, 1], metrics=METRICS, results_dir=tmp_path)
    assert isinstance(result, BenchmarkResult) and result.run_dir.parent == tmp_path / "runs"
    assert result.status == "complete" and result.missing_jobs == []
    assert set(result.scores["generator"]) == {"independent", "real-copy"}
    assert set(result.scores["seed"]) == {0, 1} and "dwp_pearson_r" in set(result.scores["score"])
    assert len(result.jobs) == 4 and (result.jobs["status"] == "ok").all()
    assert "## toy: headline" in result.headline and result.headline == (result.run_dir / "headline.md").read_text()
    assert result.timings.empty and not result.summary.empty  # no speed metric asked for
    if (result.run_dir / "verdict.csv").is_file():  # written by the results layer when it has pairs
        assert isinstance(result.verdict, pd.DataFrame)
    assert result.config.seeds == [0, 1] and result.manifest["config_hash"] == result.config.hash
    again = run_benchmark(["real-copy"], datasets="toy", seeds=[0, 1], metrics=METRICS, results_dir=tmp_path)
    assert again.run_dir == result.run_dir and again.manifest["jobs"]["reused"] == 4  # the same call resumes


def test_the_cli_and_the_api_build_the_same_configuration(tmp_path, capsys):
    """Same generators, datasets, seeds, preset and metrics: the same configuration hash, so the
    command resumes the folder the API wrote (no job runs twice)."""
    result = run_benchmark("real-copy:", datasets="toy:n_records=300", seeds="0", preset="quick",
                           metrics=METRICS, results_dir=tmp_path)
    assert main(["run", "-g", "real-copy", "-d", "toy:n_records=300", "-s", "0", "--preset", "quick",
                 "-m", ",".join(METRICS), "--results-dir", str(tmp_path), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"resuming {result.run_dir}" in err and "2 of 2 jobs already finished" in err


def test_generator_objects_stand_for_their_class_and_hyperparameters(tmp_path):
    class Copier(RealCopyGenerator):
        """A generator that is not registered: the API registers it for the run."""

        name = "copier"

        def __init__(self, shuffle: bool = True, random_state=None):
            self.shuffle = shuffle
            self.random_state = random_state

    config = api.configure([Copier(shuffle=False), "real-copy"], "toy", seeds=0)
    assert config.generator_labels == ["independent", "copier:shuffle=False", "real-copy"]
    result = run_benchmark(Copier(), datasets="toy", seeds=0, metrics=["dimwise_probability"], results_dir=tmp_path,
                           baseline=False)
    assert set(result.scores["generator"]) == {"copier"}


def test_a_benchmark_is_checked_and_placed_before_any_work(tmp_path):
    bench = Benchmark(api.configure("real-copy", "toy", seeds=[0], metrics=METRICS), results_dir=tmp_path)
    assert bench.run_dir.parent == tmp_path / "runs" and not bench.run_dir.exists() and not bench.resumed
    assert [p.spec.label for p in bench.checked.plans] == ["independent", "real-copy"]
    with pytest.raises(OptionError, match="not a run folder"):
        BenchmarkResult(tmp_path)


def test_estimator_round_trip_from_the_readme():
    from generators.registry import make

    rng = np.random.default_rng(0)
    df = pd.DataFrame((rng.random((150, 8)) < 0.3).astype(int), columns=[f"c{j}" for j in range(8)])
    df["died"] = (rng.random(150) < 0.3).astype(int)
    gen = make("meddiff", preset="quick", random_state=0, epochs=2, timesteps=20, steps=5).fit(df, y="died")
    synthetic = gen.sample(40)
    assert list(synthetic.columns) == list(df.columns) and len(synthetic) == 40
