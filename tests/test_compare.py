"""bench.compare decides better and worse by the distance to the goal, as the ranking does: a
target score by its distance to its real reference, a capped privacy score without credit beyond
its ideal."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.compare import compare_summaries, goal_distances
from bench.tables import summarize

SCORES = {
    # score: (category, goal, ideal, reference score?)
    "label_fidelity_auroc": ("utility", "target", "label_fidelity_real_auroc", False),
    "label_fidelity_real_auroc": ("utility", "maximize", None, True),
    "mia_dcr_auroc": ("privacy", "minimize", 0.5, False),
    "dwp_apd": ("fidelity", "minimize", 0.0, False),
    "sample_s": ("speed", "minimize", 0.0, False),
}


def _summary(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (gen, score), vals in values.items():
        cat, goal, ideal, ref = SCORES[score]
        for seed, v in enumerate(vals):
            rows.append({"generator": gen, "dataset": "toy", "seed": seed, "category": cat, "metric": score,
                         "score": score, "value": v, "goal": goal, "ideal": ideal, "reference": ref, "note": ""})
    return summarize(pd.DataFrame(rows), references=set())


def _direction(a: dict, b: dict, gen: str, score: str, **kw) -> str:
    df = compare_summaries(_summary(a), _summary(b), **kw)
    return df.set_index(["generator", "score"]).loc[(gen, score), "direction"]


REAL = [0.635, 0.635, 0.635]


@pytest.mark.parametrize(
    ("before", "after", "expect"),
    [
        ([0.50, 0.50, 0.50], [0.60, 0.60, 0.60], "better"),  # closer to the real 0.635 from below
        ([0.50, 0.50, 0.50], [0.75, 0.75, 0.75], "better"),  # crossed it, yet closer (0.115 < 0.135)
        ([0.50, 0.50, 0.50], [0.80, 0.80, 0.80], "worse"),  # higher, but farther (0.165 > 0.135): goal signs said better
        ([0.70, 0.70, 0.70], [0.60, 0.60, 0.60], "better"),  # lower and closer: goal signs said "changed"
    ],
)
def test_a_target_score_is_better_when_closer_to_its_real_reference(before, after, expect):
    a = {("g", "label_fidelity_auroc"): before, ("g", "label_fidelity_real_auroc"): REAL}
    b = {("g", "label_fidelity_auroc"): after, ("g", "label_fidelity_real_auroc"): REAL}
    assert _direction(a, b, "g", "label_fidelity_auroc") == expect


def test_a_target_is_judged_against_each_runs_own_reference():
    a = {("g", "label_fidelity_auroc"): [0.60] * 3, ("g", "label_fidelity_real_auroc"): [0.60] * 3}
    b = {("g", "label_fidelity_auroc"): [0.62] * 3, ("g", "label_fidelity_real_auroc"): [0.70] * 3}
    assert _direction(a, b, "g", "label_fidelity_auroc") == "worse"  # 0 -> 0.08 from its reference


def test_a_target_whose_reference_did_not_run_is_only_changed():
    a = {("g", "label_fidelity_auroc"): [0.5] * 3}
    b = {("g", "label_fidelity_auroc"): [0.6] * 3}
    assert _direction(a, b, "g", "label_fidelity_auroc") == "changed"


@pytest.mark.parametrize(
    ("before", "after", "expect"),
    [
        ([0.55, 0.56, 0.55], [0.51, 0.50, 0.51], "better"),
        ([0.55, 0.56, 0.55], [0.45, 0.44, 0.45], "better"),  # down to the holdout level, no further credit
        ([0.48, 0.47, 0.48], [0.40, 0.41, 0.40], "same distance"),  # below 0.5 earns nothing
        ([0.45, 0.45, 0.46], [0.60, 0.61, 0.60], "worse"),
        ([0.45, 0.45, 0.46], [0.45, 0.45, 0.46], "unchanged"),
    ],
)
def test_a_capped_privacy_score_earns_nothing_beyond_its_ideal(before, after, expect):
    a = {("g", "mia_dcr_auroc"): before}
    b = {("g", "mia_dcr_auroc"): after}
    assert _direction(a, b, "g", "mia_dcr_auroc") == expect


def test_spread_only_in_one_run_and_speed_left_out_unless_asked():
    a = {("g", "dwp_apd"): [0.10, 0.11, 0.09], ("g", "sample_s"): [1.0, 1.0, 1.0], ("old", "dwp_apd"): [0.1] * 3}
    b = {("g", "dwp_apd"): [0.30, 0.31, 0.29], ("g", "sample_s"): [2.0, 2.0, 2.0], ("new", "dwp_apd"): [0.1] * 3}
    df = compare_summaries(_summary(a), _summary(b)).set_index(["generator", "score"])
    assert df.loc[("g", "dwp_apd"), "beyond_spread"] and df.loc[("g", "dwp_apd"), "direction"] == "worse"
    assert df.loc[("old", "dwp_apd"), "direction"] == "only in A"
    assert df.loc[("new", "dwp_apd"), "direction"] == "only in B"
    assert ("g", "sample_s") not in df.index
    both = compare_summaries(_summary(a), _summary(b), include_speed=True).set_index(["generator", "score"])
    assert both.loc[("g", "sample_s"), "direction"] == "worse"


def test_goal_distances_use_the_generator_reference_else_the_dataset_median():
    s = _summary({("g", "label_fidelity_auroc"): [0.5] * 2, ("g", "label_fidelity_real_auroc"): [0.6] * 2,
                  ("h", "label_fidelity_auroc"): [0.5] * 2})
    d = s.assign(d=goal_distances(s)).set_index(["generator", "score"])["d"]
    assert d[("g", "label_fidelity_auroc")] == pytest.approx(0.1)
    assert d[("h", "label_fidelity_auroc")] == pytest.approx(0.1)  # h's reference row missing: the dataset's
