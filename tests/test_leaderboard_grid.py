"""The leaderboard grid (issue 25): seeds as ranges, parts that merge, equal budgets, the tuning
policy in the caption, and a bad ``--part`` refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import datasets
from bench import leaderboard as lb
from bench.budgets import fraction_table
from bench.cli import main
from bench.config import RunConfig
from bench.core.errors import OptionError
from bench.core.options import parse_ints
from generators import registry
from generators.baselines import IndependentGenerator


def test_seeds_read_ranges_in_every_subcommand():
    """One grammar: ``0-9`` is ten seeds, ranges and single seeds mix, in the order written."""
    from bench.api import _seeds
    from bench.check.command import _ints
    from bench.cli import _int_list

    assert parse_ints("0-9") == list(range(10))
    assert parse_ints("0-2,5") == _int_list("--seeds", "0-2,5") == _ints("--seeds", "0-2,5") == _seeds("0-2,5")
    assert _seeds("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(OptionError, match=r"--seeds: the range '5-2' runs backwards \(write 2-5\)"):
        parse_ints("5-2")
    with pytest.raises(OptionError, match="--seeds: expected comma-separated integers, got '1-x'"):
        parse_ints("1-x")


# two small datasets, two seeds, one neural contestant at a budget: 12 jobs of cheap metrics
GRID = ["leaderboard", "-g", "real-copy,medgan", "-d", "toy,toy:seed=1", "-s", "0-1", "--preset", "quick",
        "--budget", "30", "-m", "dimwise_probability,exact_copy,speed", "--no-progress"]


def _jobs(out):
    return pd.read_csv(out / "leaderboard" / "jobs.csv")


def _manifest(out):
    return json.loads((out / "leaderboard" / "manifest.json").read_text())


def _records(out):
    (run,) = (out / "runs").iterdir()
    return run, {p.name: p.read_bytes() for p in (run / "jobs").glob("*.json")}


def test_two_parts_build_separately_and_merge(tmp_path):
    """Part 1 renders a leaderboard that names every job of part 2 as missing; part 2, built by a
    second command into the same run folder, leaves part 1's records as they were, and the
    merged leaderboard names no missing job and pools both datasets."""
    out = tmp_path / "res"
    assert main([*GRID, "--part", "toy", "--out", str(out)]) == 0
    m = _manifest(out)
    assert m["status"] == "interrupted" and m["grid"]["not_built"] == ["toy:seed=1"]
    assert m["jobs"] == {"total": 12, "finished": 6, "failed": 0, "missing": 6}
    assert {(j["dataset"], j["seed"]) for j in m["missing_jobs"]} == {("toy:seed=1", 0), ("toy:seed=1", 1)}
    for table in (out / "headline.md", out / "leaderboard" / "leaderboard.md", out / "leaderboard" / "fidelity.md"):
        text = table.read_text()
        assert "INCOMPLETE RUN (built in parts; not yet built: toy:seed=1" in text, table
        assert "6 of 12 jobs missing" in text and "medgan on toy:seed=1, seed 1" in text, table
    assert _jobs(out).groupby("dataset")["status"].agg(set).to_dict() == {"toy": {"ok"}, "toy:seed=1": {"missing"}}
    run, first = _records(out)
    assert len(first) == 6

    assert main([*GRID, "--part", "toy:seed=1", "--out", str(out)]) == 0
    again, records = _records(out)
    assert again == run and len(records) == 12  # one run folder: the parts merged
    assert {k: records[k] for k in first} == first  # part 1's records untouched
    m = _manifest(out)
    assert m["status"] == "complete" and "missing_jobs" not in m and m["grid"]["not_built"] == []
    assert m["jobs"] == {"total": 12, "finished": 12, "failed": 0, "missing": 0}
    assert list(m["datasets"]) == ["toy", "toy:seed=1"]  # both parts' split fingerprints kept
    headline = (out / "headline.md").read_text()
    assert "INCOMPLETE" not in headline and "jobs missing" not in headline
    assert "## toy: headline" in headline and "## toy:seed=1: headline" in headline
    assert "## all datasets: headline" in headline
    assert set(_jobs(out)["status"]) == {"ok"}
    times = pd.read_csv(out / "leaderboard" / "build_times.csv")
    assert times["dataset"].tolist() == ["toy", "toy:seed=1"] and (times["wall_s"] > 0).all()
    assert times["status"].tolist() == ["complete", "complete"] and times["jobs_run"].tolist() == [6, 6]
    assert set(m["grid"]["build_times"]) == {"toy", "toy:seed=1", "all"}


def test_equal_budget_is_in_the_manifest_and_caption_and_no_schedule_mark_in_the_headline(tmp_path):
    out = tmp_path / "res"
    assert main([*GRID, "-d", "toy", "--out", str(out)]) == 0
    m = _manifest(out)
    assert m["config"]["budget"] == 30 and m["grid"]["budget"] == 30
    assert all(g["params"].get("max_updates") == 30 for k, g in m["generators"].items() if k == "medgan")
    headline = (out / "headline.md").read_text()
    assert "every neural contestant stopped after 30 optimiser updates" in headline
    assert "medgan ‡" not in headline and "‡ medgan" not in headline  # medgan ran far below its published schedule: no mark, a table instead
    assert "Updates run at the equal budget of 30" in headline
    jobs = _jobs(out)
    ran = jobs.loc[jobs["generator"] == "medgan", "diag_updates"]
    assert ran.nunique() == 1 and 0 < ran.iloc[0] <= 30  # equal across seeds, within the budget
    assert f"| medgan | {int(ran.iloc[0])} (" in headline
    assert "‡ medgan" in (out / "leaderboard" / "fidelity.md").read_text()  # per-score tables keep the mark
    assert "Tuning: nothing is tuned. Every contestant runs its declared defaults at the 'quick' preset" in headline


@pytest.mark.parametrize("bad, needles", [
    (["--part", "nope"], ["--part: 'nope' is not a dataset of the grid", "toy, toy:seed=1"]),
    (["--part", "toy,flchain"], ["--part: 'flchain' is not a dataset of the grid"]),
    (["--budget", "many"], ["--budget: expected a number of optimiser updates or 'none', got 'many'"]),
    (["--budget", "0"], ["--budget must be a positive number"]),
    (["--published-schedules", "nosuch"], ["nosuch"]),
])
def test_bad_options_exit_2_naming_the_option_before_any_work(bad, needles, tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a dataset was loaded before the error")

    monkeypatch.setattr(datasets, "build", boom)
    out = tmp_path / "res"
    assert main([*GRID, *bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(n in err for n in needles), err
    assert not out.exists()


def test_the_published_schedules_are_a_second_marked_grid(tmp_path):
    out = tmp_path / "res"
    assert main([*GRID, "-d", "toy", "-s", "0", "--published-schedules", "real-copy", "--out", str(out)]) == 0
    assert len(list((out / "runs").iterdir())) == 2  # two configurations, two run folders
    published = (out / "leaderboard-published" / "headline.md").read_text()
    assert "PUBLISHED SCHEDULES" in published and "Equal budgets" not in published
    pm = json.loads((out / "leaderboard-published" / "manifest.json").read_text())
    assert pm["config"]["budget"] is None and pm["config"]["preset"] is None and pm["grid"]["kind"] == "published"
    assert "Equal budgets" in (out / "headline.md").read_text()  # the headline stays the equal-budget grid's


def test_without_a_budget_no_message_claims_an_equal_budget(tmp_path, capsys):
    """``--budget none``: the progress line and the part summary name the main grid without
    calling it equal-budget; with a budget they still say so."""
    out = tmp_path / "res"
    argv = ["leaderboard", "-g", "real-copy", "-d", "toy", "-s", "0", "-m", "exact_copy", "--no-progress",
            "--out", str(out)]
    assert main([*argv, "--budget", "none"]) == 0
    said = "".join(capsys.readouterr())
    assert "equal-budget" not in said and "equal budget" not in said.replace("no equal budget", ""), said
    assert "main grid (no equal budget: each generator's own schedule), part toy" in said
    assert lb.plan(generators="real-copy", datasets="toy", seeds=[0], budget=30).grids[0].title == "equal-budget grid"


class Interrupter(IndependentGenerator):
    """Ctrl-C during its second fit."""

    name = "interrupter"
    fits = 0

    def fit(self, data):
        Interrupter.fits += 1
        if Interrupter.fits == 2:
            raise KeyboardInterrupt
        return super().fit(data)


def test_a_part_built_from_a_clean_checkout_merges_with_the_committed_parts(tmp_path, capsys):
    """Another day, another machine: only the rendered folder (tables and manifest, no job
    records, no run folder) is left of part 1. Part 2 starts its run folder from those tables,
    so the merged leaderboard has both parts, part 1's scores as committed, its build time
    kept; part 1 run again reuses every job (the key column), and a rendered folder of another
    grid seeds nothing."""
    import shutil

    out = tmp_path / "res"
    assert main([*GRID, "--part", "toy", "--out", str(out)]) == 0
    before = pd.read_csv(out / "leaderboard" / "scores.csv")
    assert _jobs(out)["key"].notna().sum() == 6
    shutil.rmtree(out / "runs")  # what a clean checkout has: the committed folder only
    capsys.readouterr()
    assert main([*GRID, "--part", "toy:seed=1", "--out", str(out)]) == 0
    assert "6 finished jobs of toy taken from" in capsys.readouterr().err
    m = _manifest(out)
    assert m["status"] == "complete" and m["jobs"] == {"total": 12, "finished": 12, "failed": 0, "missing": 0}
    assert list(m["datasets"]) == ["toy", "toy:seed=1"] and set(m["grid"]["code_by_dataset"]) == {"toy", "toy:seed=1"}
    after = pd.read_csv(out / "leaderboard" / "scores.csv")
    keys = ["generator", "dataset", "seed", "metric", "score"]
    merged = before.merge(after, on=keys, suffixes=("", "_after"))
    assert len(merged) == len(before) > 0
    assert np.allclose(merged["value"], merged["value_after"], rtol=1e-9, equal_nan=True)
    times = pd.read_csv(out / "leaderboard" / "build_times.csv")
    assert times["dataset"].tolist() == ["toy", "toy:seed=1"]
    assert main([*GRID, "--part", "toy", "--out", str(out)]) == 0
    times = pd.read_csv(out / "leaderboard" / "build_times.csv")
    assert times["jobs_reused"].iloc[-1] == 6 and times["jobs_run"].iloc[-1] == 0

    other = tmp_path / "other"
    shutil.copytree(out / "leaderboard", other / "leaderboard")
    capsys.readouterr()
    assert main([*GRID, "--budget", "20", "--part", "toy", "--out", str(other)]) == 0
    assert "taken from" not in capsys.readouterr().err  # another budget: another grid, nothing seeded


def test_an_interrupted_part_says_so_and_resumes(tmp_path):
    registry.register(Interrupter)
    Interrupter.fits = 0
    out = tmp_path / "res"
    argv = [*GRID, "-g", "interrupter", "--out", str(out)]
    try:
        assert main([*argv, "--part", "toy"]) == 130
        m = _manifest(out)
        assert m["status"] == "interrupted"
        assert m["interrupted"].startswith("interrupted (Ctrl-C); built in parts; not yet built: toy, toy:seed=1")
        # independent (the baseline) on both seeds, interrupter on seed 0; 5 of 8 jobs missing
        assert m["jobs"]["finished"] == 3 and m["jobs"]["missing"] == 5
        times = pd.read_csv(out / "leaderboard" / "build_times.csv")
        assert times["status"].tolist() == ["interrupted"]
        assert main([*argv, "--part", "toy"]) == 0  # resumes: the finished job is reused
        times = pd.read_csv(out / "leaderboard" / "build_times.csv")
        assert times["status"].tolist() == ["interrupted", "complete"] and times["jobs_reused"].iloc[-1] == 3
    finally:
        registry._extra.pop("interrupter", None)


def test_the_default_grid_is_the_issue_s():
    """Six datasets, ten seeds, every registered contestant with MedDiff's ablation rows, the cpu
    preset and the equal budget; the tuning sentence names the ablations as such."""
    b = lb.plan(parts=["rhc"])
    (g,) = b.grids
    assert g.labels == ["eunomia", "flchain", "dialysis", "smarto", "framingham", "rhc"] and b.parts == ["rhc"]
    assert g.config.seeds == list(range(10)) and g.config.preset == "cpu" and g.config.budget == lb.GRID_BUDGET
    names = {s.name for s in g.config.generators}
    assert names == set(registry.BUILTIN)
    assert len(g.config.generators) == 14  # 12 contestants (MedDiff's two rows) and the two references
    assert "meddiff:guidance_scale=2.0: ablation rows" in g.tuning
    assert "set by hand" not in g.tuning
    helps = {a.dest: a.help for a in _leaderboard_parser()._actions}
    assert lb.GRID_DATASETS in helps["datasets"] and lb.GRID_SEEDS in helps["seeds"]
    assert str(lb.GRID_BUDGET) in helps["budget"] and lb.GRID_PRESET in helps["preset"]


def _leaderboard_parser():
    from bench.cli import build_parser

    return build_parser()._subparsers._group_actions[0].choices["leaderboard"]


def test_options_given_by_hand_are_named_in_the_tuning_sentence():
    config = RunConfig(generators=["meddiff", "meddiff:guidance_scale=2.0", "medgan:epochs=3"])
    text = lb.tuning_policy(config)
    assert "meddiff:guidance_scale=2.0: ablation rows" in text
    assert "set by hand on the command line, not tuned by ehrbench: medgan:epochs=3" in text


def test_the_updates_table_gives_each_generator_s_updates_and_share():
    jobs = pd.DataFrame({
        "generator": ["a", "a", "b", "b", "c"], "dataset": ["d1", "d1", "d1", "d2", "d1"],
        "status": ["ok", "ok", "ok", "ok", "ok"],
        "diag_updates": [400, 400, 396, 402, np.nan], "diag_schedule_fraction": [0.1, 0.1, 0.05, 0.0508, np.nan],
    })
    text = fraction_table(jobs, 400, ["b", "a"], {"a": "own default"})
    lines = text.splitlines()
    assert lines[2] == "| generator | d1 | d2 |"
    assert lines[4] == "| b | 396 (5.0%) | 402 (5.1%) |"
    assert lines[5] == "| a * | 400 (10%) |  |"
    assert "c" not in {ln.split("|")[1].strip() for ln in lines if ln.startswith("| ")}  # reports no schedule
    assert lines[-1].startswith("* no published schedule")


def test_a_rebuilt_part_counts_its_latest_build_only():
    """build_times.csv keeps every session; the manifest's time of a part is its latest build's:
    a rebuild (nothing reused) replaces the earlier build, a resumed session adds to its build,
    and a session that ran nothing (a finished part asked for again) adds nothing."""
    cols = ["dataset", "status", "wall_s", "jobs_run", "jobs_reused"]
    rows = pd.DataFrame([
        ["rhc", "complete", 3847.0, 150, 0],      # first build, stalled
        ["flchain", "interrupted", 600.0, 50, 0],  # a build in two sessions
        ["flchain", "complete", 900.0, 100, 50],
        ["flchain", "complete", 3.0, 0, 150],     # asked for again: nothing to run
        ["rhc", "complete", 1955.4, 150, 0],      # rebuilt from nothing
    ], columns=cols)
    t = lb._time_summary(rows)
    assert t["rhc"] == {"wall_s": 1955.4, "sessions": 1, "builds": 2, "last_status": "complete"}
    assert t["flchain"] == {"wall_s": 1500.0, "sessions": 2, "builds": 1, "last_status": "complete"}
    assert t["all"]["wall_s"] == 3455.4


def test_rerun_rebuilds_only_the_named_rows_and_says_which_code_built_them(tmp_path, capsys, monkeypatch):
    """``--rerun medgan`` after a change: medgan's jobs run again at the new code, real-copy's and
    independent's records stay byte for byte (their keys now stale), the manifest names the rows
    and their code, and the session is not counted as a build of the part."""
    out = tmp_path / "res"
    assert main([*GRID, "--part", "toy", "--out", str(out)]) == 0
    run, before = _records(out)
    code0 = _manifest(out)["grid"]["code_by_dataset"]["toy"]
    import bench.config
    import bench.harness

    for module in (bench.config, bench.harness):  # "the code changed"
        monkeypatch.setattr(module, "code_version", lambda: "newcode00000")
    capsys.readouterr()
    assert main([*GRID, "--part", "toy", "--rerun", "medgan", "--out", str(out)]) == 0
    assert "4 of 6 jobs already finished" in capsys.readouterr().err
    _, after = _records(out)
    medgan = {k for k in before if k.startswith("medgan")}
    assert len(medgan) == 2 and all(after[k] == before[k] for k in before if k not in medgan)
    assert all(json.loads(after[k])["key"] != json.loads(before[k])["key"] for k in medgan)
    m = _manifest(out)
    assert m["grid"]["code_by_dataset"]["toy"] == code0
    assert m["grid"]["rows_rebuilt"] == {"toy": {"medgan": "newcode00000"}}
    times = pd.read_csv(out / "leaderboard" / "build_times.csv")
    assert times["rerun"].fillna("").tolist() == ["", "medgan"] and times["jobs_run"].tolist() == [6, 2]
    assert m["grid"]["build_times"]["toy"]["wall_s"] == round(float(times["wall_s"].iloc[0]), 1)
    assert "Rows rebuilt by later code than the rest of their part (bench leaderboard --rerun" in (
        out / "headline.md").read_text() and "medgan by newcode00000 on toy." in (out / "headline.md").read_text()
    # a whole build of the part at the new code: one code again, nothing marked as rebuilt
    assert main([*GRID, "--part", "toy", "--out", str(out)]) == 0
    m = _manifest(out)
    assert m["grid"]["code_by_dataset"]["toy"] == "newcode00000" and m["grid"]["rows_rebuilt"] == {}
    assert "Rows rebuilt" not in (out / "headline.md").read_text()
    assert main([*GRID, "--rerun", "ctgan", "--out", str(out)]) == 2
    assert "--rerun: 'ctgan' is not a row of the grid" in capsys.readouterr().err


def test_retire_drops_a_row_runs_nothing_and_keeps_every_other_record(tmp_path, capsys, monkeypatch):
    """``--retire medgan`` after a code change: no job runs, the other rows' records and scores stay
    exactly as they were (their keys stale), medgan leaves every table, and the manifest and the
    caption name the retired row and the code that retired it. Bad uses are refused by name."""
    out = tmp_path / "res"
    assert main([*GRID, "--out", str(out)]) == 0
    scores0 = pd.read_csv(out / "leaderboard" / "scores.csv")
    m0 = _manifest(out)
    import bench.config
    import bench.harness

    for module in (bench.config, bench.harness):  # "the code changed"
        monkeypatch.setattr(module, "code_version", lambda: "newcode00000")
    narrowed = [a if a != "real-copy,medgan" else "real-copy" for a in GRID]
    capsys.readouterr()
    assert main([*GRID, "--retire", "medgan", "--out", str(out)]) == 2
    assert "--retire: 'medgan' is still a row of the grid" in capsys.readouterr().err
    assert main([*narrowed, "--retire", "ctgan", "--out", str(out)]) == 2
    assert "--retire: 'ctgan' is not a row of the leaderboard" in capsys.readouterr().err
    assert main([*narrowed, "--retire", "medgan", "--budget", "31", "--out", str(out)]) == 2
    assert "its configuration differs in budget" in capsys.readouterr().err
    assert main([*narrowed, "--retire", "medgan", "--part", "toy", "--out", str(out)]) == 2
    assert _manifest(out) == m0  # refused before any work

    assert main([*narrowed, "--retire", "medgan", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "kept as they are (none runs)" in err and "medgan" not in _jobs(out)["generator"].tolist()
    scores1 = pd.read_csv(out / "leaderboard" / "scores.csv")
    kept = scores0[scores0["generator"] != "medgan"].reset_index(drop=True)
    pd.testing.assert_frame_equal(scores1.reset_index(drop=True), kept)
    m = _manifest(out)
    assert m["jobs"]["missing"] == 0 and m["status"] == "complete"
    assert m["grid"]["code_by_dataset"] == m0["grid"]["code_by_dataset"]
    assert m["grid"]["rows_retired"] == {"medgan": "newcode00000"}
    assert m["grid"]["build_times"] == m0["grid"]["build_times"]  # nothing was built
    headline = (out / "headline.md").read_text()
    assert "Rows retired from this leaderboard" in headline and "medgan by newcode00000" in headline
    assert "| medgan" not in headline


def test_build_times_keep_a_code_of_digits_as_text(tmp_path):
    """A part's code (a commit's hex digits) may be all digits or read as a float; build_times.csv
    is read back and rewritten at every session, so it must come back as written."""
    from bench.leaderboard import TIME_COLUMNS, _read_times

    path = tmp_path / "build_times.csv"
    pd.DataFrame([{c: None for c in TIME_COLUMNS} | {"dataset": d, "code": code}
                  for d, code in (("toy", "012345678901"), ("eunomia", "00000012e034"))]).to_csv(path, index=False)
    assert list(_read_times(path)["code"]) == ["012345678901", "00000012e034"]
