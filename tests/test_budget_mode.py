"""The equal-budget mode (``--budget N``) and the rows of ``-g all`` (MedDiff's contributions)."""

from __future__ import annotations

import pytest

from bench import harness
from bench.cli import main
from bench.config import parse_generators
from bench.core.errors import OptionError
from bench.core.io import read_json


def test_all_expands_meddiff_into_its_contribution_rows():
    labels = [s.label for s in parse_generators("all")]
    assert {"meddiff", "meddiff:guidance_scale=2.0"} <= set(labels)
    assert "meddiff:sampler=parataa" not in labels  # DDIM's trajectory: its row added nothing (retired)
    assert "medgan" in labels and "ehrdiff" in labels and "ehrgpt" in labels
    assert len(labels) == len(set(labels))


def _prep(budget, generators="meddiff,medgan:max_updates=7"):
    cfg = harness.RunConfig(generators=parse_generators(generators), datasets=["toy"], seeds=[0],
                            metrics=["dimwise_probability"], preset="quick", budget=budget)
    return harness.prepare(cfg)


def test_budget_caps_every_neural_generator_unless_its_options_set_one():
    prep = _prep(11)
    params = {p.spec.label: p.params for p in prep.plans}
    assert params["meddiff"]["max_updates"] == 11
    assert params["medgan:max_updates=7"]["max_updates"] == 7  # the user's own option wins
    assert "max_updates" not in params["independent"]  # a baseline has nothing to cap
    assert prep.config.to_dict()["budget"] == 11
    unbudgeted = {p.spec.label: p.params for p in _prep(None).plans}
    assert unbudgeted["meddiff"].get("max_updates") != 11


@pytest.mark.parametrize("budget", [0, -3])
def test_a_budget_below_one_update_is_an_error(budget):
    with pytest.raises(OptionError, match="--budget"):
        _prep(budget)


def test_budget_run_is_recorded_and_honoured(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "-g", "meddiff", "-d", "toy", "-s", "0", "--quick", "--budget", "5",
                 "-m", "dimwise_probability", "--no-progress", "--out", str(out)]) == 0
    assert read_json(out / "manifest.json")["config"]["budget"] == 5
    record = read_json(out / "jobs" / "meddiff__toy__s0.json")
    assert record["params"]["max_updates"] == 5
    assert record["diagnostics"]["updates"] <= 5
    assert main(["run", "-g", "meddiff", "-d", "toy", "--budget", "0", "--no-progress",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "--budget" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
