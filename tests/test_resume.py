"""A run killed midway resumes without losing or recomputing a finished job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

PLUGIN = textwrap.dedent(
    '''
    import time

    from generators.baselines import IndependentGenerator


    class Slow(IndependentGenerator):
        """The independent baseline, slowed down so that a run can be killed between jobs."""

        name = "slow"

        def fit(self, data):
            time.sleep(1.0)
            return super().fit(data)
    '''
)


def _install_plugin(root):
    (root / "slow_plugin.py").write_text(PLUGIN)
    info = root / "slow_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ehrbench.generators]\nslow = slow_plugin:Slow\n")


def test_killed_run_resumes_where_it_stopped(tmp_path):
    _install_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "EHRBENCH_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "bench", "run", "-g", "slow", "--no-baseline", "-d", "toy", "-s", "0,1,2,3,4,5",
           "-m", "dimwise_probability", "--results-dir", str(tmp_path / "res"), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    jobs_dir = None
    while time.time() < deadline:
        found = list((tmp_path / "res" / "runs").glob("*/jobs/*.json"))
        if len(found) >= 2:
            jobs_dir = found[0].parent
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert jobs_dir is not None, "no job finished before the deadline"
    finished = {p.name: p.read_text() for p in jobs_dir.glob("*.json")}
    assert 2 <= len(finished) < 6
    manifest = json.loads((jobs_dir.parent / "manifest.json").read_text())
    assert manifest["status"] == "running"

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    manifest = json.loads((jobs_dir.parent / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["jobs"]["reused"] == len(finished)
    assert manifest["jobs"]["run"] == 6 - len(finished)
    for name, text in finished.items():  # finished jobs were not recomputed
        assert (jobs_dir / name).read_text() == text
