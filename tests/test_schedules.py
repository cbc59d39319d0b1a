"""Truncated training schedules are marked in every table (issue 15): a generator whose jobs ran
below 100% of the published schedule gets ‡ and a footnote with the fraction from its jobs; one at
100%, or one that reports no schedule, gets no mark."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.cli import main
from bench.core.io import write_json
from bench.records import JobRecord
from bench.results import write_tables
from bench.schedules import footnote, schedule_fractions

SCORES = [  # score, category, goal, ideal, reference score?
    ("dwpred_auroc_syn", "fidelity", "maximize", "dwpred_auroc_real", False),
    ("dwpred_auroc_real", "fidelity", "maximize", 1.0, True),
    ("dwp_apd", "fidelity", "minimize", 0.0, False),
]
VALUES = {"slowgan": 0.6, "fullgan": 0.8, "nodiag": 0.7, "independent": 0.5}


def _record(gen: str, seed: int, fraction: float | None) -> JobRecord:
    rows = [{"category": cat, "metric": "dimwise", "score": name, "goal": goal, "ideal": ideal, "reference": ref,
             "note": "", "value": (0.9 if ref else VALUES[gen] + 0.01 * seed)}
            for name, cat, goal, ideal, ref in SCORES]
    diag = {"nfe": 1.0} if fraction is None else {"schedule_fraction": fraction, "updates": 10.0}
    return JobRecord(gen, "toy", seed, 10, fit_s=1.0, sample_s=0.1, diagnostics=diag, scores=rows)


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """A run directory written by hand: slowgan ran 7% (seed 0) and 8% (seed 1) of its published
    schedule, fullgan all of it, nodiag and the reference report nothing."""
    d = tmp_path_factory.mktemp("fake_run")
    write_json(d / "manifest.json", {"ehrbench_version": "0.test", "code_version": "abc", "config": {
        "seeds": [0, 1], "preset": "cpu", "split_seed": None}, "datasets": {"toy": {"train": {"fingerprint": "f00"}}}})
    fractions = {"slowgan": (0.07, 0.08), "fullgan": (1.0, 1.0), "nodiag": (None, None), "independent": (None, None)}
    for gen, per_seed in fractions.items():
        for seed, frac in enumerate(per_seed):
            write_json(d / "jobs" / f"{gen}__toy__s{seed}.json", _record(gen, seed, frac).to_json())
    write_tables(d, None, list(fractions))
    return d


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {name}"))


def test_every_markdown_table_marks_the_truncated_generator_only(fake_run):
    note = "‡ slowgan: trained on 7.0%–8.0% of the published schedule (epochs run / published)"
    for path in ("headline.md", "leaderboard.md", "tables/fidelity.md"):
        text = (fake_run / path).read_text()
        assert _row(text, "slowgan").startswith("| slowgan ‡ |"), path
        assert "‡" not in _row(text, "fullgan") and "‡" not in _row(text, "nodiag"), path
        assert _row(text, "independent").startswith("| independent † |"), path
        assert note in text, path
        assert "fullgan: trained" not in text and "nodiag: trained" not in text
    # the headline heads the leaderboard, the per-score tables follow
    md = (fake_run / "leaderboard.md").read_text()
    assert md.index("## toy: headline") < md.index("### fidelity: dimwise")


def test_latex_and_csv_carry_the_mark_and_the_fraction(fake_run):
    tex = (fake_run / "leaderboard.tex").read_text()
    assert r"slowgan $\ddagger$ &" in tex and r"fullgan &" in tex
    assert r"$\ddagger$ slowgan: trained on 7.0\%\textendash{}8.0\% of the published schedule" in tex
    csv = pd.read_csv(fake_run / "leaderboard.csv")
    by_gen = csv.groupby("generator")[["schedule_fraction", "truncated"]].first()
    assert by_gen.loc["slowgan", "schedule_fraction"] == pytest.approx(0.075)
    assert bool(by_gen.loc["slowgan", "truncated"]) and not bool(by_gen.loc["fullgan", "truncated"])
    assert math.isnan(by_gen.loc["nodiag", "schedule_fraction"]) and not bool(by_gen.loc["nodiag", "truncated"])


def test_captions_say_the_preset_the_interval_and_the_bolding_rule(fake_run):
    for path in ("headline.md", "leaderboard.md", "leaderboard.tex", "tables/fidelity.md", "tables/fidelity.tex"):
        text = (fake_run / path).read_text()
        assert "preset cpu" in text, path
        assert "95% t-interval half-width over seeds" in text.replace(r"\%", "%"), path
        assert "paired t-test over blocks, Holm-corrected" in text, path
        assert "Mean ± std" not in text, path


def test_failed_jobs_do_not_count_and_a_full_schedule_is_not_truncated():
    jobs = pd.DataFrame({"dataset": ["d"] * 3, "generator": ["g"] * 3, "status": ["ok", "ok", "error"],
                         "diag_schedule_fraction": [1.0, 1.0, 0.1]})
    assert schedule_fractions(jobs) == {("d", "g"): (1.0, 1.0)}
    assert schedule_fractions(jobs.drop(columns="diag_schedule_fraction")) == {}
    assert footnote("g", (0.13, 0.13)) == "‡ g: trained on 13% of the published schedule (epochs run / published)"
    # a generator with no published configuration is measured against ehrbench's own default, and says so
    own = footnote("g", (0.25, 0.25), basis="own default")
    assert "25% of ehrbench's own default schedule" in own and "published schedule" not in own


def test_a_real_run_of_a_truncated_generator_is_marked(tmp_path, capsys):
    """EHRDiff run for 2 of its published epochs: the fraction travels generator -> JobRecord ->
    jobs.csv -> every table and the printed headline."""
    from generators.ehrdiff.model import PUBLISHED_EPOCHS

    gen = "ehrdiff:epochs=2,steps=4,unit_dims=64-32-64,time_dim=32,class_dim=16"
    assert main(["run", "-g", gen, "-d", "toy", "-s", "0", "--quick", "-m", "dimwise_probability,speed",
                 "--results-dir", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    [run_dir] = list((tmp_path / "runs").iterdir())
    jobs = pd.read_csv(run_dir / "jobs.csv").set_index("generator")
    [label] = [g for g in jobs.index if g.startswith("ehrdiff:")]  # the label as the run normalised it
    assert jobs.loc[label, "diag_schedule_fraction"] == pytest.approx(2 / PUBLISHED_EPOCHS)
    share = f"{100 * 2 / PUBLISHED_EPOCHS:.2g}%"
    assert f"| {label} ‡ |" in out and f"‡ {label}: trained on {share} of the published schedule" in out
    assert "| independent † |" in out and "independent ‡" not in out


def test_the_report_and_its_use_case_ranking_carry_the_mark(fake_run, capsys):
    assert main(["report", str(fake_run)]) == 0
    capsys.readouterr()
    ranking = (fake_run / "report" / "ranking.md").read_text()
    assert "| slowgan ‡ |" in ranking and "| fullgan |" in ranking and "independent" not in ranking.split("\n## ")[1]
    assert "‡ slowgan: trained on 7.0%–8.0% of the published schedule" in ranking
    for name in ("headline.md", "leaderboard.md", "fidelity.md", "README.md"):
        assert "| slowgan ‡ |" in (fake_run / "report" / name).read_text(), name


def test_the_use_case_ranking_footnote_names_the_schedule_basis(tmp_path, capsys):
    """A generator with no published configuration (ehrgpt, MedDiff) is measured against
    ehrbench's own default in every footnote, the use-case ranking's included."""
    d = tmp_path / "run"
    write_json(d / "manifest.json", {"ehrbench_version": "0.test", "code_version": "abc", "config": {
        "seeds": [0, 1], "preset": "cpu", "split_seed": None}, "datasets": {"toy": {"train": {"fingerprint": "f00"}}},
        "generators": {"slowgan": {"name": "slowgan", "departures": {"schedule": "own default", "changes": []}}}})
    for gen, frac in (("slowgan", 0.07), ("fullgan", 1.0), ("independent", None)):
        for seed in (0, 1):
            write_json(d / "jobs" / f"{gen}__toy__s{seed}.json", _record(gen, seed, frac).to_json())
    assert main(["report", str(d)]) == 0
    capsys.readouterr()
    for name in ("ranking.md", "headline.md", "leaderboard.md"):
        text = (d / "report" / name).read_text()
        assert "slowgan: trained on 7.0% of ehrbench's own default schedule" in text, name
        assert "slowgan: trained on 7.0% of the published schedule" not in text, name
