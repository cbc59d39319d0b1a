"""Known answers for the verdict table (bench.verdict): who beats whom, by how much, and when
nothing can be said."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.verdict import default_pairs, verdict_markdown, verdict_table

GOALS = {"dwpred_auroc_syn": ("maximize", "dwpred_auroc_real", False), "dwpred_auroc_real": ("maximize", 1.0, True),
         "detection_auroc": ("minimize", 0.5, False)}


def _scores(values: dict[str, dict[str, list[float]]], datasets=("toy",)) -> pd.DataFrame:
    rows = []
    for dataset in datasets:
        for gen, by in values.items():
            for score, vals in by.items():
                goal, ideal, ref = GOALS[score]
                for seed, v in enumerate(vals):
                    rows.append({"generator": gen, "dataset": dataset, "seed": seed, "category": "fidelity",
                                 "metric": "m", "score": score, "value": v, "goal": goal, "ideal": ideal,
                                 "reference": ref, "note": ""})
    return pd.DataFrame(rows)


REAL = [0.9] * 6


def test_a_clearly_better_generator_wins_with_an_interval_that_excludes_zero() -> None:
    s = _scores({"meddiff": {"dwpred_auroc_syn": [0.86, 0.85, 0.87, 0.86, 0.84, 0.85], "dwpred_auroc_real": REAL},
                 "medgan": {"dwpred_auroc_syn": [0.70, 0.74, 0.69, 0.72, 0.71, 0.70], "dwpred_auroc_real": REAL},
                 "independent": {"dwpred_auroc_syn": [0.5] * 6, "dwpred_auroc_real": REAL}})
    assert default_pairs(s) == [("meddiff", "medgan")]  # references are not peers
    row = verdict_table(s).iloc[0]
    assert row["verdict"] == "meddiff better" and row["ci_low"] > 0
    assert abs(row["advantage_a"] - (0.855 - 0.71)) < 1e-9
    assert row["mdd80"] < row["advantage_a"]


def test_equal_generators_are_not_separated_and_power_is_stated() -> None:
    rng = np.random.default_rng(1)
    base = 0.8 + rng.normal(0, 0.02, 6)
    s = _scores({"meddiff": {"dwpred_auroc_syn": list(base + rng.normal(0, 0.01, 6)), "dwpred_auroc_real": REAL},
                 "medgan": {"dwpred_auroc_syn": list(base + rng.normal(0, 0.01, 6)), "dwpred_auroc_real": REAL}})
    row = verdict_table(s).iloc[0]
    assert row["verdict"] == "not separated" and row["ci_low"] < 0 < row["ci_high"]
    assert row["mdd80"] > 0
    assert "not separated" in verdict_markdown(verdict_table(s))


def test_a_failed_block_is_never_a_win() -> None:
    s = _scores({"meddiff": {"dwpred_auroc_syn": [0.86, 0.85, 0.87, 0.86, 0.84, 0.85], "dwpred_auroc_real": REAL},
                 "medgan": {"dwpred_auroc_syn": [0.89, 0.89], "dwpred_auroc_real": REAL[:2]}})
    row = verdict_table(s).iloc[0]
    assert row["verdict"] == "n/a" and "medgan: 4 of 6 failed" in row["note"]


def test_several_datasets_give_a_pooled_scope_and_holm_over_pairs() -> None:
    s = _scores({"meddiff": {"detection_auroc": [0.60, 0.61, 0.62, 0.60, 0.61, 0.62]},
                 "medgan": {"detection_auroc": [0.90, 0.91, 0.92, 0.90, 0.92, 0.91]},
                 "ehrgpt": {"detection_auroc": [0.61, 0.60, 0.62, 0.61, 0.60, 0.62]}}, datasets=("d1", "d2"))
    t = verdict_table(s)
    assert set(t["scope"]) == {"d1", "d2", "all datasets"}
    pooled = t[t["scope"] == "all datasets"].set_index("b")
    assert pooled.loc["medgan", "verdict"] == "meddiff better"
    assert pooled.loc["ehrgpt", "verdict"] == "not separated"
    assert (t["p_holm"].dropna() >= t["p_value"].dropna() - 1e-12).all()


def test_named_pairs_and_no_meddiff_falls_back_to_the_leader() -> None:
    s = _scores({"a": {"detection_auroc": [0.6, 0.61, 0.62]}, "b": {"detection_auroc": [0.9, 0.91, 0.92]}})
    assert default_pairs(s) == [("a", "b")]
    assert list(verdict_table(s, [("b", "a")])["verdict"]) == ["a better"]
