"""examples/plugin installed with pip, then run end to end through the command line and the API:
a third party's generator, metric and dataset, found through the three entry-point groups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package installed by pip into a folder of its own (no download: --no-deps and
    --no-build-isolation build it with the setuptools already here); returns the environment
    that sees it."""
    tmp = tmp_path_factory.mktemp("plugin")
    src = tmp / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=170,
    )
    assert out.returncode == 0, out.stderr
    assert (target / "ehrbench_example" / "generator.py").is_file()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), "EHRBENCH_PROGRESS": "0",
           "OMP_NUM_THREADS": "1"}
    return env, tmp


def _bench(env, *args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env,
                          timeout=170)


def test_bench_list_shows_the_plugins_generator_metric_and_dataset(installed):
    env, _ = installed
    out = _bench(env, "list")
    assert out.returncode == 0, out.stderr
    for name in ("bernoulli-mixture (plugin ehrbench-example-plugin)", "codes_per_record (plugin",
                 "example-clinic (plugin"):
        assert name in out.stdout, name
    one = _bench(env, "list", "generators", "bernoulli-mixture")
    assert "options (defaults): n_components=8, n_iter=100" in one.stdout
    assert "preset quick: n_iter=20" in one.stdout and "McLachlan & Peel" in one.stdout
    metric = _bench(env, "list", "metrics", "codes_per_record")
    assert "codes_per_record_gap: minimize, ideal 0.0" in metric.stdout


def test_bench_run_uses_all_three(installed):
    env, tmp = installed
    out = _bench(env, "run", "-g", "bernoulli-mixture:n_iter=10", "-d", "example-clinic:n_records=300", "-s", "0",
                 "-m", "dimwise_probability,codes_per_record", "--results-dir", str(tmp / "cli"), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "| bernoulli-mixture:n_iter=10 |" in out.stdout
    run_dir = next((tmp / "cli" / "runs").iterdir())
    scores = (run_dir / "scores.csv").read_text()
    assert "codes_per_record_gap" in scores and "example-clinic:n_records=300" in scores


def test_the_python_api_uses_all_three(installed):
    env, tmp = installed
    script = (
        "from bench import run_benchmark\n"
        "r = run_benchmark('bernoulli-mixture', datasets='example-clinic', seeds=0, preset='quick',\n"
        f"                  metrics=['codes_per_record'], results_dir={str(tmp / 'api')!r})\n"
        "gap = r.scores.query(\"generator == 'bernoulli-mixture' and score == 'codes_per_record_gap'\")['value']\n"
        "print(json.dumps({'status': r.status, 'gap': float(gap.iloc[0])}))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + script], capture_output=True, text=True, env=env,
                         timeout=170)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "complete" and 0 <= got["gap"] < 0.2  # the mixture learns the record length
