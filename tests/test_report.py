from __future__ import annotations

import pytest

from bench.cli import main
from generators.baselines import IndependentGenerator

GRID = ["-d", "toy", "-s", "0,1", "-m", "dimwise_probability,mia_dcr,tstr_lr,speed", "--no-progress"]


def _run(root, *extra):
    assert main(["run", "-g", "independent,real-copy", *GRID, "--results-dir", str(root), *extra]) == 0
    return sorted((root / "runs").iterdir())[-1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("report"))


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
                 "ranking.md", "ranking.csv", "dimwise_toy.png", "tradeoff_toy.png", "README.md"):
        assert (out / name).is_file(), name
    tex = (out / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{" in tex and r"$\pm$" in tex and r"$\uparrow$" in tex
    assert "toy" in tex and "seeds [0, 1]" in tex
    summary = (out / "leaderboard.csv").read_text()
    assert "ci95" in summary
    ranking = (out / "ranking.md").read_text()
    assert "education" in ranking and "medical_ai_development" in ranking
    assert "Use-case ranking" in capsys.readouterr().out


def test_custom_weights_change_the_ranking(run_dir, tmp_path):
    w = tmp_path / "w.toml"
    w.write_text("[leak_lovers]\nmia_dcr_auroc = 1.0\n")
    assert main(["report", str(run_dir), "--weights", str(w), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "ranking.md").read_text()
    assert "leak_lovers" in text
    # lower membership-inference AUROC ranks first: the independent baseline
    first = [line for line in text.splitlines() if line.startswith("| 1 |")][0]
    assert "independent" in first


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
    row = c[(c.generator == "independent") & (c.metric == "dwp_apd")].iloc[0]
    assert row["beyond_spread"] and row["direction"] == "worse"
