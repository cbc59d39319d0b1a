"""Transportability: train on one dataset, score on another with columns aligned by id."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench import harness
from bench.cli import main
from bench.config import RunConfig
from bench.core.errors import OptionError

METRICS = "dimwise_probability,tstr_lr,mia_dcr"
ARROW = "toy → toy:seed=1"


def _run(root, *extra, data="toy", seeds="0,1"):
    return main(["run", "-g", "independent,real-copy", "-d", data, "-s", seeds, "-m", METRICS,
                 "--results-dir", str(root), "--no-progress", *extra])


def _run_dir(root):
    [d] = sorted((root / "runs").iterdir())
    return d


def test_a_transported_run_names_both_datasets(tmp_path, capsys):
    assert _run(tmp_path, "--eval-dataset", "toy:seed=1") == 0
    out = capsys.readouterr().out
    d = _run_dir(tmp_path)
    assert f"## {ARROW}" in out and f"## {ARROW}" in (d / "leaderboard.md").read_text()
    scores = pd.read_csv(d / "scores.csv")
    assert set(scores["dataset"]) == {ARROW}
    m = json.loads((d / "manifest.json").read_text())
    entry = m["datasets"][ARROW]
    assert entry["dataset"]["spec"] == "toy" and entry["eval_dataset"]["spec"] == "toy:seed=1"
    assert entry["dataset"]["fingerprint"] != entry["eval_dataset"]["fingerprint"]
    s0 = entry["splits"]["0"]
    assert s0["eval_test"] not in (s0["train"], s0["test"]) and s0["records"]["eval_test"] == 120
    assert m["config"]["eval_datasets"] == ["toy:seed=1"]
    assert (d / "jobs" / "real-copy__toy___toy_seed_1__s0.json").is_file()
    # privacy says why it has no value: the generator saw none of the scored records
    mia = scores[scores["metric"] == "mia_dcr"]
    assert mia["value"].isna().all() and mia["note"].str.contains("another dataset").all()


def _mean(root, generator, score):
    scores = pd.read_csv(_run_dir(root) / "scores.csv")
    return scores[(scores["generator"] == generator) & (scores["score"] == score)]["value"].mean()


def test_fidelity_and_utility_are_scored_on_the_evaluation_dataset(tmp_path):
    """A copy of toy is perfect on toy, not on another population: scores come from the eval data."""
    assert _run(tmp_path / "home", seeds="0") == 0
    assert _run(tmp_path / "away", "--eval-dataset", "toy:seed=1", seeds="0") == 0
    home = _mean(tmp_path / "home", "real-copy", "dwp_pearson_r")
    away = _mean(tmp_path / "away", "real-copy", "dwp_pearson_r")
    assert home > 0.99 and away < home - 0.2
    # utility: the synthetic-trained model is scored on the evaluation records
    assert _mean(tmp_path / "home", "real-copy", "tstr_lr_auroc") != _mean(tmp_path / "away", "real-copy",
                                                                            "tstr_lr_auroc")


def test_scored_parts_are_the_eval_datasets_own_parts():
    """An A → B job is scored on the records B's own job is scored on, so the two read side by side."""
    base = dict(generators=["independent"], seeds=[0, 1], metrics=["dimwise_probability"])
    away = harness.prepare(RunConfig(**base, datasets=["toy"], eval_datasets=["toy:seed=1"]))
    home = harness.prepare(RunConfig(**base, datasets=["toy:seed=1"]))
    for s in (0, 1):
        a, h = away.data["toy → toy:seed=1"][s], home.data["toy:seed=1"][s]
        assert a.transported and a.score_test.fingerprint == h.test.fingerprint
        assert a.score_train.fingerprint == h.train.fingerprint
        assert a.train.fingerprint == harness.prepare(RunConfig(**base, datasets=["toy"])).data["toy"][s].train.fingerprint


def test_a_missing_column_is_an_error_naming_it(tmp_path, capsys):
    assert _run(tmp_path, "--eval-dataset", "toy:n_codes=22", seeds="0") == 2
    err = capsys.readouterr().err
    assert "code022, code023" in err and "toy:n_codes=22" in err and "--eval-fill-missing" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_the_fill_option_zero_fills_and_runs(tmp_path):
    assert _run(tmp_path, "--eval-dataset", "toy:n_codes=22", "--eval-fill-missing", seeds="0") == 0
    scores = pd.read_csv(_run_dir(tmp_path) / "scores.csv")
    assert set(scores["dataset"]) == {"toy → toy:n_codes=22"}
    assert scores[scores["score"] == "tstr_lr_auroc"]["value"].notna().all()


def test_one_eval_dataset_per_training_dataset_or_one_for_all():
    cfg = RunConfig(generators=["independent"], datasets=["toy", "toy:seed=2"], eval_datasets=["toy:seed=1"])
    assert cfg.table_labels == ["toy → toy:seed=1", "toy:seed=2 → toy:seed=1"]
    cfg = RunConfig(generators=["independent"], datasets=["toy", "toy:seed=2"], eval_datasets=["toy:seed=1", "toy:seed=2"])
    assert cfg.table_labels == ["toy → toy:seed=1", "toy:seed=2"]  # scored on itself: an ordinary job
    cfg = RunConfig(generators=["independent"], datasets=["toy", "toy:seed=2"], eval_datasets=["a", "b", "c"])
    with pytest.raises(OptionError, match="one dataset for all training datasets or one per training dataset"):
        harness.prepare(cfg)


def test_fill_missing_without_an_eval_dataset_is_refused(tmp_path, capsys):
    assert _run(tmp_path, "--eval-fill-missing", seeds="0") == 2
    assert "--eval-fill-missing needs --eval-dataset" in capsys.readouterr().err
