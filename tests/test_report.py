from __future__ import annotations

import pytest

from bench.cli import main
from bench.core.departures import Departures
from generators import registry
from generators.baselines import IndependentGenerator, RealCopyGenerator


class Leaky(RealCopyGenerator):
    """A contestant that copies its training records: it must never win privacy."""

    name = "leaky"
    is_reference = False


class Naive(IndependentGenerator):
    """A contestant that draws codes independently."""

    name = "naive"
    is_reference = False


registry.register(Leaky)
registry.register(Naive)

# three seeds: each draws its own split, and two seeds of a paired t-test (1 df) rarely resolve a leader
GRID = ["-d", "toy", "-s", "0,1,2", "-m", "dimwise_probability,mia_dcr,tstr_lr,speed", "--no-progress"]


def _run(root, *extra, generators="independent,real-copy"):
    assert main(["run", "-g", generators, *GRID, "--results-dir", str(root), *extra]) == 0
    return sorted((root / "runs").iterdir())[-1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("report"), generators="leaky,naive,independent,real-copy")


def _degrade(monkeypatch):
    """A 'code change' that breaks the baseline generator: a third of its codes come out flipped."""
    original = IndependentGenerator.sample

    def flipped(self, n, labels=None):
        X, y = original(self, n, labels)
        X[:, ::3] = 1 - X[:, ::3]
        return X, y

    monkeypatch.setattr(IndependentGenerator, "sample", flipped)


def test_report_writes_tables_figures_and_ranking(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    out = run_dir / "report"
    for name in ("leaderboard.md", "leaderboard.tex", "leaderboard.csv", "fidelity.md", "privacy.tex",
                 "ranking.md", "ranking.csv", "dimwise_toy.png", "tradeoff_toy.png", "README.md", "headline.md"):
        assert (out / name).is_file(), name
    tex = (out / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"$\pm$" in tex and r"$\uparrow$" in tex
    assert "toy" in tex and "seeds [0, 1, 2]" in tex
    assert r"Reference generators ($\dagger$), not ranked" in tex
    import pandas as pd

    summary = pd.read_csv(out / "leaderboard.csv")
    assert {"ci95", "ci_low", "ci_high", "role", "rank"} <= set(summary.columns)
    refs = summary[summary["generator"].isin(["independent", "real-copy"])]
    assert (refs["role"] == "reference").all() and not refs["best"].any() and refs["rank"].isna().all()
    md = (out / "leaderboard.md").read_text()
    assert md.index("## toy: headline") < md.index("### fidelity")  # the headline heads the leaderboard
    assert "preset" in md and "95% t-interval half-width" in md
    assert "| independent † |" in md
    assert not [line for line in md.splitlines() if line.startswith(("| independent", "| real-copy")) and "**" in line]
    ranking = (out / "ranking.md").read_text()
    assert "education" in ranking and "medical_ai_development" in ranking
    assert "| independent |" not in ranking and "| real-copy |" not in ranking  # references never ranked
    # one dataset: Demšar's test ranks over datasets, so no diagram, and the report says why
    assert not (out / "critical_difference.png").is_file()
    readme = (out / "README.md").read_text()
    assert "Not drawn" in readme and "at least 4 datasets" in readme
    assert (out / "verdict.md").is_file() and (out / "departures.md").is_file()
    assert "Use-case ranking" in capsys.readouterr().out


def test_custom_weights_change_the_ranking(run_dir, tmp_path):
    w = tmp_path / "w.toml"
    w.write_text("[leak_lovers]\nmia_dcr_auroc = 1.0\n")
    assert main(["report", str(run_dir), "--weights", str(w), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "ranking.md").read_text()
    assert "leak_lovers" in text
    # membership-inference AUROC nearer 0.5 ranks first: the independent-codes contestant, never the copier
    # (before issue 13 the reference baseline `independent` itself was ranked here)
    first = [line for line in text.splitlines() if line.startswith("| 1 |")][0]
    assert "naive" in first


@pytest.mark.parametrize(
    ("args", "message"),
    [(["report", "/nonexistent/run"], "does not exist"),
     (["compare", "/nonexistent/a", "/nonexistent/b"], "does not exist")],
)
def test_bad_run_dirs_exit_2(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_weights_file_exits_2(run_dir, tmp_path, capsys):
    w = tmp_path / "w.toml"
    w.write_text("[case]\nmia_dcr_auroc = 'high'\n")
    assert main(["report", str(run_dir), "--weights", str(w)]) == 2
    assert "must be a non-negative number" in capsys.readouterr().err


def test_compare_finds_nothing_between_identical_runs_and_flags_a_degradation(
        run_dir, tmp_path, monkeypatch, capsys):
    same = _run(tmp_path / "same")
    assert main(["compare", str(run_dir), str(same)]) == 0
    assert "0 of" in capsys.readouterr().out
    _degrade(monkeypatch)
    worse = _run(tmp_path / "worse")
    assert main(["compare", str(run_dir), str(worse), "--csv", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "dwp_apd" in out and "worse" in out
    import pandas as pd

    c = pd.read_csv(tmp_path / "c.csv")
    row = c[(c.generator == "independent") & (c.score == "dwp_apd")].iloc[0]
    assert row["beyond_spread"] and row["direction"] == "worse"


def test_use_case_ranking_takes_the_ranking_functions_ranks_and_skips_references():
    import pandas as pd

    from bench.report import use_case_ranking
    from bench.tables import summarize

    rows = []
    values = {"copier": [1.0, 1.0, 1.0], "fresh": [0.50, 0.48, 0.49], "far": [0.40, 0.41, 0.42],
              "real-copy": [1.0, 1.0, 1.0]}
    for gen, vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"generator": gen, "dataset": "toy", "seed": seed, "category": "privacy", "metric": "mia_dcr",
                         "score": "mia_dcr_auroc", "value": v, "goal": "minimize", "ideal": 0.5,
                         "reference": False, "note": ""})
    ranking = use_case_ranking(summarize(pd.DataFrame(rows)), {"privacy": {"mia_dcr_auroc": 1.0}})
    pos = dict(zip(ranking["generator"], ranking["position"], strict=True))
    assert "real-copy" not in pos  # a reference generator is never ranked
    assert pos["fresh"] == pos["far"] == 1 and pos["copier"] == 3  # below 0.5 earns nothing; the copier is last


class Oracle(RealCopyGenerator):
    """A generator class that declares itself a reference: set apart by class, not by name."""

    name = "oracle"
    is_reference = True


def test_a_class_declaring_itself_a_reference_is_set_apart_everywhere(tmp_path):
    import pandas as pd

    from bench.report import _ranking_markdown, use_case_ranking
    from bench.results import run_references
    from bench.tables import leaderboard_markdown, summarize

    registry.register(Oracle)
    try:
        rows = []
        values = {"oracle": [0.5, 0.5, 0.5], "a": [0.60, 0.61, 0.60], "b": [0.70, 0.71, 0.72]}
        for gen, vals in values.items():
            for seed, v in enumerate(vals):
                rows.append({"generator": gen, "dataset": "toy", "seed": seed, "category": "privacy",
                             "metric": "mia_dcr", "score": "mia_dcr_auroc", "value": v, "goal": "minimize",
                             "ideal": 0.5, "reference": False, "note": ""})
        scores = pd.DataFrame(rows)
        refs = run_references(scores, ["oracle", "a", "b"])
        assert refs == {"oracle"}
        summary = summarize(scores, ["oracle", "a", "b"], refs)
        md = leaderboard_markdown(summary)
        assert "| oracle † |" in md and md.index("| a |") < md.index("| oracle † |")
        assert "**" not in [line for line in md.splitlines() if line.startswith("| oracle")][0]
        # even a summary that did not mark it (ref_generator False) keeps it out of the ranking
        ranking = use_case_ranking(summarize(scores, references=set()), {"p": {"mia_dcr_auroc": 1.0}}, refs)
        assert "oracle" not in set(ranking["generator"]) and ranking.iloc[0]["generator"] == "a"
        assert "Not ranked in this run: oracle" in _ranking_markdown(ranking, {"p": {"mia_dcr_auroc": 1.0}}, refs)
    finally:
        registry._extra.pop("oracle", None)


@pytest.mark.slow
def test_leaderboard_command_prints_the_headline_and_commits_it_atop_the_leaderboard(tmp_path, capsys):
    """`bench leaderboard` (the committed output): headline printed and heading leaderboard.md (slow:
    the default metric suite, about half a minute on 2 shared cores)."""
    out = tmp_path / "lb"
    assert main(["leaderboard", "-g", "independent,real-copy", "-d", "toy", "-s", "0,1", "--preset", "quick",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "## toy: headline" in printed and "### fidelity" not in printed and "preset quick" in printed
    md = (out / "leaderboard.md").read_text()
    assert md.index("## toy: headline") < md.index("### fidelity")
    assert (out / "headline.md").is_file() and (out / "leaderboard" / "fidelity.md").is_file()


class Departing(IndependentGenerator):
    """A contestant that declares how it departs from its published code."""

    name = "departing"
    is_reference = False
    departures = Departures(changes=("codes drawn per class, not jointly (the published code samples jointly)",))


def test_declared_departures_reach_the_manifest_and_every_caption(tmp_path):
    import json

    registry.register(Departing)
    try:
        run = _run(tmp_path, generators="departing,real-copy")
    finally:
        registry._extra.pop("departing", None)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["generators"]["departing"]["departures"] == Departing.departures.to_json()
    text = Departing.departures.text()
    assert f"Departures from the published code — departing: {text}." in (run / "leaderboard.md").read_text()
    for name in ("headline.md", "leaderboard.tex"):
        assert text in (run / name).read_text(), name


def test_run_prints_the_verdict_last_and_pairs_are_checked_before_work(tmp_path, capsys):
    root = tmp_path / "r"
    assert main(["run", "-g", "leaky,naive", *GRID, "--results-dir", str(root), "--pair", "naive", "leaky"]) == 0
    printed = capsys.readouterr().out.rstrip()
    last = printed[printed.rindex("# Verdict"):]
    assert "| naive vs leaky |" in last and "detectable at 80% power" in last
    run = sorted((root / "runs").iterdir())[-1]
    assert (run / "verdict.csv").is_file()
    # a pair naming a generator the run does not have: exit 2, named, before any job runs
    bad = tmp_path / "bad"
    assert main(["run", "-g", "naive", *GRID, "--results-dir", str(bad), "--pair", "naive", "nosuch"]) == 2
    assert "'nosuch' is not a generator of this run" in capsys.readouterr().err
    assert not (bad / "runs").exists()


def test_the_committed_leaderboard_folder_re_renders_and_compares(run_dir, tmp_path, capsys):
    """A folder holding only the manifest and per-block tables (what results/leaderboard keeps) is
    a report and compare input, without the job records."""
    import shutil

    folder = tmp_path / "lb"
    folder.mkdir()
    for name in ("manifest.json", "scores.csv", "timings.csv", "jobs.csv"):
        shutil.copyfile(run_dir / name, folder / name)
    assert main(["report", str(folder)]) == 0
    assert (folder / "headline.md").is_file() and (folder / "verdict.md").is_file()
    assert main(["compare", str(folder), str(run_dir)]) == 0
    assert "0 of" in capsys.readouterr().out  # the same numbers: nothing moved
