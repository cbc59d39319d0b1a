"""The sampler study on a tiny model: one training, every sampler, a table and a plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.core.errors import OptionError
from bench.datasets.toy import make_toy
from bench.sampler_study import main, run_sampler_study

TINY = {"timesteps": 40, "hidden_dim": 32, "n_blocks": 1, "time_dim": 16, "epochs": 10, "batch_size": 128}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def test_study_writes_table_and_plot(tmp_path: Path) -> None:
    data = make_toy(n_records=300, seed=2)
    df = run_sampler_study(tmp_path, dataset=data, budgets=(4, 8), n_samples=120, quick=True, params=TINY)
    assert (tmp_path / "sampler_study.csv").stat().st_size > 0
    assert (tmp_path / "sampler_study.png").stat().st_size > 0
    table = pd.read_csv(tmp_path / "sampler_study.csv")
    assert len(table) == len(df) == 4 * 2 + 2  # samplers x budgets, T-step ancestral, real held-out
    for col in ("sampler", "steps", "nfe", "nfe_total", "wall_s", "samples_per_s", "dwp_r", "detection_auroc"):
        assert col in table.columns
    seq = table[table["sampler"].isin(["ddim", "dpmpp2m", "ancestral"])]
    assert (seq["nfe"] == seq["steps"]).all() and (seq["nfe_total"] == seq["steps"]).all()
    par = table[table["sampler"] == "parataa"]
    assert (par["nfe"] <= par["steps"]).all() and (par["nfe_total"] >= par["nfe"]).all()
    ref = table[table["role"] == "reference"]
    assert list(ref["steps"]) == [40] and list(ref["sampler"]) == ["ancestral"]
    assert table["detection_auroc"].between(0, 1).all()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="euler"):
        run_sampler_study(tmp_path, dataset=make_toy(n_records=100), samplers=("euler",), quick=True)
    with pytest.raises(OptionError, match="budgets"):
        run_sampler_study(tmp_path, dataset=make_toy(n_records=100), budgets=(0,), quick=True)
    assert main(["--out", str(tmp_path), "--dataset", "toy", "--quick", "--samplers", "nope"]) == 2


def test_validation_study_over_seeds_pairs_each_sampler_with_the_baseline(tmp_path: Path) -> None:
    """``--score-on validation --seeds``: one fit per seed on the three-way split's training part,
    the held-out row is the validation part (never the test part), and the paired summary has
    one row per sampler other than the baseline, over every block."""
    args = ["--out", str(tmp_path), "--dataset", "toy", "--quick", "--seeds", "0-1", "--samplers", "ddim,dpmpp2m",
            "--budgets", "4,8", "--score-on", "validation", "--no-reference", "--baseline", "ddim-8"]
    assert main(args) == 0
    whole = pd.read_csv(tmp_path / "sampler_study_all.csv")
    assert sorted(set(whole["seed"])) == [0, 1] and whole["dwpred_auroc"].between(0, 1).all()
    from bench import datasets

    parts = datasets.load("toy").split3(seed=0)
    assert len(whole) == 2 * 4  # no T-step reference and no held-out row with --no-reference
    paired = pd.read_csv(tmp_path / "sampler_study_paired.csv")
    assert sorted(zip(paired["sampler"], paired["steps"], strict=True)) == [("ddim", 4), ("dpmpp2m", 4), ("dpmpp2m", 8)]
    assert (paired["dwpred_auroc_blocks"] == 2).all() and (paired["detection_auroc_blocks"] == 2).all()
    one = run_sampler_study(tmp_path / "one", dataset="toy", samplers=("ddim",), budgets=(4,), quick=True,
                            score_on="validation")
    assert int(one.loc[one["sampler"] == "real-heldout", "n_samples"].iloc[0]) == parts.validation.n_records
    assert main([*args[:-1], "ddim-99"]) == 2  # a baseline that was not run is refused
    assert main([*args[:-2], "--baseline", "ddim"]) == 2  # and one that is not SAMPLER-STEPS


def test_spacings_are_rows_of_their_own_paired_with_the_uniform_baseline(tmp_path: Path) -> None:
    """``--spacings``: every sampler and budget once per spacing, the ``spacing`` column saying
    which; the baseline is the uniform grid's, and its quadratic twin is a pair like any other.
    An unknown spacing is refused, naming the valid ones."""
    args = ["--out", str(tmp_path), "--dataset", "toy", "--quick", "--seeds", "0-1", "--samplers", "ddim",
            "--budgets", "4,8", "--spacings", "uniform,quadratic", "--no-reference", "--baseline", "ddim-8"]
    assert main(args) == 0
    whole = pd.read_csv(tmp_path / "sampler_study_all.csv")
    assert sorted(set(zip(whole["steps"], whole["spacing"], strict=True))) == [
        (4, "quadratic"), (4, "uniform"), (8, "quadratic"), (8, "uniform")]
    uni = whole[whole["spacing"] == "uniform"].set_index(["seed", "steps"])
    quad = whole[whole["spacing"] == "quadratic"].set_index(["seed", "steps"])
    assert (uni["nfe"] == quad["nfe"]).all()  # the same cost, on other timesteps
    paired = pd.read_csv(tmp_path / "sampler_study_paired.csv")
    assert sorted(zip(paired["steps"], paired["spacing"], strict=True)) == [
        (4, "quadratic"), (4, "uniform"), (8, "quadratic")]
    with pytest.raises(OptionError, match="uniform, quadratic, logsnr, tuned"):
        run_sampler_study(tmp_path, dataset=make_toy(n_records=100), spacings=("even",), quick=True)


def test_fitted_spacing_runs_only_where_a_grid_can_be_fitted(tmp_path: Path) -> None:
    """``fitted``: a grid fitted to the model's DDIM-20 for each sequential sampler under 20
    steps; ParaTAA and budgets of 20 or more have none and get no fitted row."""
    data = make_toy(n_records=200, seed=2)
    df = run_sampler_study(tmp_path, dataset=data, samplers=("ddim", "parataa"), budgets=(4, 20), n_samples=100,
                           quick=True, params=TINY, spacings=("uniform", "fitted"), reference=False)
    fitted = df[df["spacing"] == "fitted"]
    assert list(zip(fitted["sampler"], fitted["steps"], strict=True)) == [("ddim", 4)]
    assert (fitted["nfe"] == 4).all() and len(df) == 5


def test_paired_summary_known_answer() -> None:
    """A sampler that scores 0.01 higher than the baseline in every block: +0.01, higher in all."""
    from bench.sampler_study import paired_summary

    rows = []
    for seed in range(4):
        for name, steps, bump in (("ddim", 20, 0.0), ("dpmpp2m", 10, 0.01)):
            rows.append({"dataset": "d", "seed": seed, "sampler": name, "steps": steps, "role": "", "nfe_total": steps,
                         "wall_s": steps / 10, "dwpred_auroc": 0.7 + seed / 100 + bump,
                         "detection_auroc": 0.9 - bump, "dwp_r": 0.95})
    out = paired_summary(pd.DataFrame(rows), ("ddim", 20)).iloc[0]
    assert out["sampler"] == "dpmpp2m" and out["wall_ratio"] == pytest.approx(0.5)
    assert out["dwpred_auroc_diff"] == pytest.approx(0.01) and out["dwpred_auroc_higher"] == 4
    assert out["detection_auroc_diff"] == pytest.approx(-0.01) and out["detection_auroc_higher"] == 0
    assert out["dwp_r_diff"] == 0 and pd.isna(out["dwp_r_p"])  # a tie is a tie: no p-value
