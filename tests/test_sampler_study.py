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
