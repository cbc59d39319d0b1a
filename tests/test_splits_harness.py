"""Repeated splits in the harness: each seed draws its own train/validation/test split, a pinned
split seed gives every seed the same one, generators never see validation or test, and stored
configurations from before validation parts existed rerun on exactly the records they ran on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import harness
from bench.cli import main
from bench.config import RunConfig, job_key
from bench.core.data import EHRDataset
from bench.splits import job_data
from generators import registry
from generators.baselines import IndependentGenerator

METRICS = "tstr_lr,dimwise_probability"


def _run(root, *extra, seeds="0,1,2"):
    return main(["run", "-g", "independent,real-copy", "-d", "toy", "-s", seeds, "-m", METRICS,
                 "--results-dir", str(root), "--no-progress", *extra])


def _run_dir(root):
    [d] = sorted((root / "runs").iterdir())
    return d


def _trtr(root):
    scores = pd.read_csv(_run_dir(root) / "scores.csv")
    rows = scores[(scores["score"] == "trtr_lr_auroc") & (scores["generator"] == "independent")]
    return rows.set_index("seed")["value"]


def test_each_seed_draws_its_own_split_so_trtr_spreads(tmp_path):
    assert _run(tmp_path) == 0
    trtr = _trtr(tmp_path)
    assert len(trtr) == 3 and trtr.notna().all()
    assert trtr.std() > 1e-3  # the real-trained reference moves with the split
    m = json.loads((_run_dir(tmp_path) / "manifest.json").read_text())
    assert m["config"]["split_seed"] is None and m["config"]["val_size"] == 0.1
    prints = {s["test"] for s in m["datasets"]["toy"]["splits"].values()}
    assert len(prints) == 3


def test_a_pinned_split_gives_every_seed_the_same_reference(tmp_path):
    assert _run(tmp_path, "--split-seed", "0") == 0
    trtr = _trtr(tmp_path)
    assert len(trtr) == 3 and trtr.std() == 0.0  # the reference depends on the split alone
    m = json.loads((_run_dir(tmp_path) / "manifest.json").read_text())
    splits = m["datasets"]["toy"]["splits"]
    assert {s["split_seed"] for s in splits.values()} == {0}
    assert len({s["train"] for s in splits.values()}) == 1


def _indexed(n=500, seed=0):
    """Records that spell their own row index in binary (so parts can be checked for overlap)."""
    bits = ((np.arange(n)[:, None] >> np.arange(9)) & 1).astype(np.float32)
    y = (np.random.default_rng(seed).random(n) < 0.3).astype(int)
    return EHRDataset(bits, y, [f"b{j}" for j in range(9)], name="indexed")


def _ids(part):
    return set((part.X.astype(int) << np.arange(9)).sum(axis=1).tolist())


@pytest.mark.parametrize("val_size", [0.1, 0.0])
def test_train_validation_and_test_are_disjoint_and_cover_the_data(val_size):
    full = _indexed()
    for seed in (0, 1, 2):
        d = job_data(full, seed, val_size, 0.2)
        a, c = _ids(d.train), _ids(d.test)
        b = set() if d.validation is None else _ids(d.validation)
        assert not (a & b) and not (a & c) and not (b & c)
        assert len(a | b | c) == full.n_records
        assert len(b) == round(full.n_records * val_size) and len(c) == 100
        assert d.score_train is d.train and d.score_test is d.test and not d.transported
    assert _ids(job_data(full, 0, 0.1, 0.2).test) != _ids(job_data(full, 1, 0.1, 0.2).test)


class Recording(IndependentGenerator):
    """The independent baseline, noting the fingerprint of what it was fitted on."""

    name = "recording"
    fitted: list[str] = []

    def fit(self, data):
        Recording.fitted.append(data.fingerprint)
        return super().fit(data)


def test_the_generator_fits_on_the_train_part_only():
    registry.register(Recording)
    Recording.fitted.clear()
    try:
        cfg = RunConfig(generators=["recording"], datasets=["toy"], seeds=[0, 1], metrics=["dimwise_probability"])
        prep = harness.prepare(cfg)
        for job in prep.jobs:
            record = harness.run_job(prep, job)
            assert record.ok, record.error
    finally:
        registry._extra.pop("recording", None)
    assert Recording.fitted == [prep.data["toy"][0].train.fingerprint, prep.data["toy"][1].train.fingerprint]
    assert prep.data["toy"][0].train.n_records == 420  # 70 % of 600: validation and test kept out


def test_job_keys_follow_the_split():
    base = dict(generators=["independent"], datasets=["toy"], seeds=[0, 1], metrics=["dimwise_probability"])
    prep = harness.prepare(RunConfig(**base))
    k0, k1 = (job_key(prep, j) for j in prep.jobs)
    pinned = harness.prepare(RunConfig(**base, split_seed=0))
    p0, p1 = (job_key(pinned, j) for j in pinned.jobs)
    assert k0 == p0  # seed 0 draws split 0 either way: same data, same key
    assert k1 != p1  # seed 1 on split 1 vs on split 0
    other = harness.prepare(RunConfig(**base, val_size=0.2))
    assert job_key(other, other.jobs[0]) != k0
    again = harness.prepare(RunConfig(**base))
    assert [job_key(again, j) for j in again.jobs] == [k0, k1]


def test_a_stored_configuration_without_val_size_reruns_on_its_old_split(toy):
    """A `bench check` baseline stored before validation parts existed: split_seed 0 pins split 0
    and the train part is exactly the 80 % it trained on."""
    stored = {"generators": ["independent"], "datasets": ["toy"], "seeds": [0, 1, 2], "metrics": [],
              "preset": "quick", "n_synthetic": None, "split_seed": 0, "test_size": 0.2}
    cfg = RunConfig.from_dict(stored)
    assert cfg.val_size == 0.0 and cfg.split_seed == 0
    prep = harness.prepare(cfg)
    old_train, old_test = toy.split(seed=0, test_size=0.2)
    assert list(prep.data["toy"]) == [0]
    d = prep.data["toy"][0]
    assert d.train.fingerprint == old_train.fingerprint and d.test.fingerprint == old_test.fingerprint
    assert d.validation is None
    assert RunConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()  # today's configs round-trip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--val-size", "0.8"], "--val-size must be in [0, 1) with --val-size + --test-size below 1"),
        (["--val-size", "-0.1"], "--val-size"),
        (["--test-size", "1.5"], "--test-size must be in (0, 1)"),
        (["--split-seed", "-1"], "--split-seed must be a non-negative integer"),
        (["--score-on", "validation", "--val-size", "0"], "--score-on validation needs a validation part"),
    ],
)
def test_bad_split_options_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    assert _run(tmp_path, *args, seeds="0") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_score_on_validation_scores_the_validation_part_and_says_so(tmp_path):
    """A tuning run: same training records, metrics against validation, test never handed over;
    its own job key and run directory, and its tables say it is not a result."""
    base = dict(generators=["independent"], datasets=["toy"], seeds=[0], metrics=["dimwise_probability"])
    test_prep = harness.prepare(RunConfig(**base))
    val_prep = harness.prepare(RunConfig(**base, score_on="validation"))
    t, v = test_prep.data["toy"][0], val_prep.data["toy"][0]
    assert v.train.fingerprint == t.train.fingerprint
    assert v.score_test.fingerprint == v.validation.fingerprint != t.score_test.fingerprint
    assert job_key(val_prep, val_prep.jobs[0]) != job_key(test_prep, test_prep.jobs[0])
    assert RunConfig(**base).hash != RunConfig(**base, score_on="validation").hash
    assert "score_on" not in RunConfig(**base).to_dict()  # old configurations keep their hash

    assert _run(tmp_path, "--score-on", "validation", seeds="0") == 0
    run = _run_dir(tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    assert m["config"]["score_on"] == "validation"
    assert "SCORED ON VALIDATION" in (run / "leaderboard.md").read_text()
