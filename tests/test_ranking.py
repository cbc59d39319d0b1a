"""Known-answer tests of the verdict: whatever crowns a winner (bench.ranking, used by the tables,
the report and the use-case ranking) gets it right where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.ranking import (
    distances,
    is_reference_generator,
    paired_p,
    pareto_front,
    rank_long,
    rank_score,
    reference_generators,
)
from bench.stats import friedman_nemenyi
from bench.tables import leaderboard_csv, leaderboard_latex, leaderboard_markdown, summarize
from metrics.base import Score, distance_to_goal

rng = np.random.default_rng(0)


def _blocks(**cols: list[float]) -> pd.DataFrame:
    return pd.DataFrame(cols, index=pd.RangeIndex(len(next(iter(cols.values()))), name="seed"))


# ----------------------------------------------------------------------------- score semantics
def test_distance_to_goal_rules() -> None:
    # maximise / minimise without an ideal: unbounded
    assert distance_to_goal([1.0, 2.0], "maximize").tolist() == [-1.0, -2.0]
    # with an ideal: no credit beyond it (one-sided)
    assert distance_to_goal([0.5, 1.0, 3.0], "maximize", 1.0).tolist() == [0.5, 0.0, 0.0]
    assert distance_to_goal([0.4, 0.5, 0.9], "minimize", 0.5).tolist() == pytest.approx([0.0, 0.0, 0.4])
    # target: both sides count
    assert distance_to_goal([0.4, 0.6], "target", 0.5).tolist() == pytest.approx([0.1, 0.1])
    # an ideal given per block (a reference score's values)
    assert distance_to_goal([0.487, 0.62], "target", [0.635, 0.635]).tolist() == pytest.approx([0.148, 0.015])
    with pytest.raises(ValueError, match="needs an ideal"):
        distance_to_goal([0.5], "target", None)


def test_score_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="needs an ideal"):
        Score("x", "target")
    with pytest.raises(ValueError, match="cannot name the score itself"):
        Score("x", "target", ideal="x")
    assert Score("x", "target", ideal="x_real").ideal_is_reference


def test_every_builtin_score_has_the_documented_semantics() -> None:
    from metrics import registry

    scores = {s.name: s for n in registry.BUILTIN for s in registry.get_class(n).scores}
    expect = {
        "dcr_ratio": ("maximize", 1.0), "dcr_closer_prob": ("minimize", 0.5),
        "mia_dcr_auroc": ("minimize", 0.5), "mia_dcr_best_f1": ("minimize", pytest.approx(2 / 3)),
        "dcr_syn_mean": ("maximize", "dcr_holdout_mean"), "aia_f1": ("minimize", "aia_f1_holdout"),
        "aia_f1_gain": ("minimize", 0.0), "nnaa_privacy_loss": ("minimize", 0.0),
        "exact_copy_rate": ("minimize", "exact_copy_holdout_rate"), "exact_copy_excess": ("minimize", 0.0),
        "label_fidelity_auroc": ("target", "label_fidelity_real_auroc"),
        "label_fidelity_positive_rate": ("target", "label_fidelity_real_positive_rate"),
        "label_fidelity_negative_rate": ("target", "label_fidelity_real_negative_rate"),
        "detection_auroc": ("minimize", 0.5), "outcomes_tstr_auroc": ("maximize", "outcomes_trtr_auroc"),
    }
    for name, (goal, ideal) in expect.items():
        assert (scores[name].goal, scores[name].ideal) == (goal, ideal), name
    for s in scores.values():
        assert s.goal != "target" or s.ideal is not None, s.name


# ------------------------------------------------------------------------------ known answers
def test_real_copy_never_wins_and_references_are_never_ranked() -> None:
    # real-copy has the best raw fidelity in every block; it is a reference: never ranked
    v = _blocks(**{"real-copy": [1.0, 1.0, 1.0], "a": [0.90, 0.91, 0.92], "b": [0.5, 0.52, 0.51],
                   "independent": [0.95, 0.95, 0.95]})
    r = rank_score(v, "maximize", 1.0)
    assert r.best == ["a"] and "real-copy" not in r.rank and "independent" not in r.rank
    # any generator class declaring itself a reference is set apart the same way
    assert rank_score(v, "maximize", 1.0, references={"a"}).leaders == ["b"]


def test_a_copier_never_wins_privacy() -> None:
    # an unflagged contestant that copies its training data: DCR ratio 0, attack AUROC 1
    dcr = _blocks(copier=[0.0, 0.0, 0.0], fresh=[0.98, 1.01, 0.99], far=[2.9, 3.1, 3.0])
    assert "copier" not in rank_score(dcr, "maximize", 1.0).group
    mia = _blocks(copier=[1.0, 1.0, 1.0], fresh=[0.49, 0.51, 0.50])
    assert rank_score(mia, "minimize", 0.5).best == ["fresh"]


def test_far_from_every_patient_is_never_more_private_than_held_out_records() -> None:
    # DCR ratio 3 (garbage far from everyone) vs 1 (fresh records): no credit beyond the holdout level
    dcr = _blocks(fresh=[1.0, 0.99, 1.02], far=[3.0, 2.8, 3.3], leaky=[0.5, 0.52, 0.48])
    r = rank_score(dcr, "maximize", 1.0)
    # fresh wobbles around 1 (distance 0 or 0.01), far is 0 everywhere: far leads on rank, but the
    # paired test cannot separate them, so both lead, ahead of the leaky one
    assert r.order[-1] == "leaky" and r.rank["leaky"] == 3
    assert set(r.group) == {"far", "fresh"} and set(r.best) == {"far", "fresh"}
    # an attack AUROC below chance is noise, not privacy
    mia = _blocks(fresh=[0.50, 0.51, 0.50], far=[0.40, 0.42, 0.41])
    r = rank_score(mia, "minimize", 0.5)
    assert r.best == []  # nothing separates them: no winner
    assert r.position["far"] <= r.position["fresh"]  # below chance earns nothing over chance


def test_a_tie_is_a_tie() -> None:
    v = _blocks(a=[0.8, 0.7, 0.9], b=[0.8, 0.7, 0.9], c=[0.3, 0.2, 0.25])
    r = rank_score(v, "maximize")
    assert set(r.leaders) == {"a", "b"} and set(r.best) == {"a", "b"}
    assert r.rank["a"] == r.rank["b"] == 1.5 and r.rank["c"] == 3 and r.position["a"] == r.position["b"] == 1
    assert r.p_values["b" if r.order[0] == "a" else "a"] == 1.0
    two = rank_score(v[["a", "b"]], "maximize")
    assert two.best == [] and set(two.group) == {"a", "b"}


def test_target_without_numeric_ideal_ranks_by_distance_to_its_reference() -> None:
    # the ctgan case: 0.487 (label ignored, below chance) must not win label fidelity
    v = _blocks(ctgan=[0.487, 0.49, 0.484], good=[0.62, 0.63, 0.61], exaggerated=[0.80, 0.82, 0.79])
    ref = _blocks(ctgan=[0.635, 0.64, 0.63], good=[0.635, 0.64, 0.63], exaggerated=[0.635, 0.64, 0.63])
    r = rank_score(v, "target", "label_fidelity_real_auroc", reference_values=ref)
    assert r.leaders == ["good"] and r.best == ["good"] and r.position["ctgan"] > 1
    with pytest.raises(ValueError, match="its values are needed"):
        distances(v, "target", "label_fidelity_real_auroc")


def test_noise_bolds_both_or_neither() -> None:
    # two generators 0.002 apart with block noise of 0.02: the paired test cannot resolve them
    base = rng.normal(0.8, 0.02, size=5)
    v = _blocks(a=base + rng.normal(0, 0.02, 5), b=base + 0.002 + rng.normal(0, 0.02, 5))
    r = rank_score(v, "maximize", 1.0)
    assert r.best == [] and set(r.group) == {"a", "b"}
    v["c"] = base - 0.3
    r = rank_score(v, "maximize", 1.0)
    assert set(r.best) == {"a", "b"}


def test_a_resolved_winner_is_bold_alone_and_one_block_resolves_nothing() -> None:
    v = _blocks(a=[0.90, 0.92, 0.91, 0.93], b=[0.80, 0.81, 0.83, 0.82])
    r = rank_score(v, "maximize")
    assert r.best == ["a"] and r.p_value < 0.05
    assert rank_score(v.iloc[:1], "maximize").best == []  # one block: no test, no bold


def test_paired_p_edge_cases() -> None:
    assert paired_p(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 1.0
    assert paired_p(np.array([1.0, 2.0]), np.array([0.5, 1.5])) == 0.0
    assert np.isnan(paired_p(np.array([1.0, np.nan]), np.array([0.5, 1.0])))


def test_reference_generators_by_name_and_class_attribute() -> None:
    from generators import registry
    from generators.baselines import IndependentGenerator

    class Ref(IndependentGenerator):
        name = "some-oracle"

    class Contestant(IndependentGenerator):
        name = "some-contestant"
        is_reference = False

    registry.register(Ref)
    registry.register(Contestant)
    got = reference_generators(["independent", "real-copy:x=1", "some-oracle", "some-contestant", "unknown"])
    assert got == {"independent", "real-copy:x=1", "some-oracle"}
    assert is_reference_generator("independent:a=1") and not is_reference_generator("meddiff")


# ------------------------------------------------------------------ Friedman / Nemenyi, Pareto
def test_nemenyi_critical_difference_matches_demsar_table() -> None:
    d = pd.DataFrame(rng.random((10, 4)), columns=list("abcd"))
    assert friedman_nemenyi(d).critical_difference == pytest.approx(2.569 * np.sqrt(4 * 5 / 60), abs=2e-3)
    d3 = pd.DataFrame(rng.random((12, 3)), columns=list("abc"))
    assert friedman_nemenyi(d3).critical_difference == pytest.approx(2.343 * np.sqrt(3 * 4 / 72), abs=2e-3)


def test_friedman_separates_a_consistent_order_and_not_noise() -> None:
    n = 12
    consistent = pd.DataFrame({"a": np.zeros(n), "b": np.ones(n), "c": 2 * np.ones(n)}) + rng.normal(0, 0.01, (n, 3))
    fr = friedman_nemenyi(consistent)
    assert fr.p_value < 0.001 and list(fr.avg_rank.index) == ["a", "b", "c"]
    assert fr.avg_rank["c"] - fr.avg_rank["a"] > fr.critical_difference
    noise = pd.DataFrame(rng.random((n, 3)), columns=list("abc"))
    assert friedman_nemenyi(noise).p_value > 0.01


def test_pareto_front() -> None:
    d = pd.DataFrame({"fidelity": [0.1, 0.3, 0.2, 0.4], "privacy": [0.3, 0.1, 0.4, 0.4]}, index=list("abcd"))
    assert pareto_front(d) == ["a", "b"]


# ------------------------------------------------------------------------------ tables wiring
def _long(values: dict[str, list[float]], metric: str, goal: str, ideal, reference=False, dataset="toy"):
    rows = []
    for gen, vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"generator": gen, "dataset": dataset, "seed": seed, "category": "utility",
                         "metric": "label_fidelity", "score": metric, "value": v, "goal": goal,
                         "ideal": ideal, "reference": reference, "note": ""})
    return pd.DataFrame(rows)


def test_summary_bolds_by_the_ranking_function_and_sets_references_apart() -> None:
    gens = {"ctgan": [0.487, 0.49, 0.484], "good": [0.62, 0.63, 0.61], "real-copy": [0.635, 0.64, 0.63]}
    ref = {g: [0.635, 0.64, 0.63] for g in gens}
    scores = pd.concat([
        _long(gens, "label_fidelity_auroc", "target", "label_fidelity_real_auroc"),
        _long(ref, "label_fidelity_real_auroc", "maximize", 1.0, reference=True),
    ])
    s = summarize(scores, ["real-copy", "ctgan", "good"])
    lf = s[s["score"] == "label_fidelity_auroc"].set_index("generator")
    # real-copy is closest to the reference but is a reference generator: never bolded, never ranked
    assert lf.loc["good", "best"] and not lf.loc["ctgan", "best"] and not lf.loc["real-copy", "best"]
    assert np.isnan(lf.loc["real-copy", "rank"]) and lf.loc["real-copy", "ref_generator"]
    assert list(lf.index) == ["ctgan", "good", "real-copy"]  # references last
    assert lf.loc["good", "ci95"] == pytest.approx(4.303 * 0.01 / np.sqrt(3), rel=1e-3)
    assert not s[s["score"] == "label_fidelity_real_auroc"]["best"].any()  # a reference score: unranked
    md = leaderboard_markdown(s)
    assert "**0.015 ± 0.012**" in md and "| real-copy † |" in md and "(ref.)" in md
    assert md.index("| ctgan |") < md.index("reference generators") < md.index("| real-copy † |")
    tex = leaderboard_latex(s)
    assert tex.index("ctgan") < tex.index(r"Reference generators") < tex.index(r"real-copy $\dagger$")
    csv = leaderboard_csv(s)
    assert list(csv[csv["score"] == "label_fidelity_auroc"]["role"]) == ["contestant", "contestant", "reference"]


def test_rank_long_skips_reference_scores_and_missing_references() -> None:
    scores = _long({"a": [0.5, 0.6]}, "trtr_lr_auroc", "maximize", 1.0, reference=True)
    assert rank_long(scores, "trtr_lr_auroc") is None
    lonely = _long({"a": [0.5, 0.6], "b": [0.4, 0.3]}, "label_fidelity_auroc", "target", "label_fidelity_real_auroc")
    assert rank_long(lonely, "label_fidelity_auroc") is None  # its reference did not run: undefined


# ------------------------------------------------------------------- order by merit, leading set
def test_a_stable_better_contestant_ranks_above_a_noisy_worse_one() -> None:
    # the medbgan case: a noisy contestant rarely beaten significantly must not rank first
    v = _blocks(stable=[0.86, 0.87, 0.85, 0.86], noisy=[0.95, 0.40, 0.90, 0.45], mid=[0.80, 0.81, 0.79, 0.80])
    r = rank_score(v, "maximize", 1.0)
    assert r.order[0] == "stable" and r.order.index("stable") < r.order.index("noisy")
    # closed downward: whatever is bold, everything ranked above it is bold too
    assert all(g in r.best for g in r.order[: max([r.order.index(b) for b in r.best] + [-1]) + 1])


def test_never_above_one_that_beats_it_in_most_blocks_and_on_average() -> None:
    # mean rank alone would put a first: it wins block 2 by far while b wins blocks 0 and 1 narrowly
    # and ten others sit between them in block 2
    cols = {"a": [0.52, 0.52, 0.00], "b": [0.50, 0.50, 0.02]}
    cols |= {f"x{i}": [0.9 + i / 100, 0.9 + i / 100, 0.001 + i / 1000] for i in range(10)}
    r = rank_score(_blocks(**cols), "minimize", 0.0)
    assert r.rank["a"] < r.rank["b"]  # a has the better mean rank ...
    assert r.order.index("b") < r.order.index("a")  # ... but b beats it in most blocks and on average


def test_a_contestant_with_a_failed_block_is_never_bold_or_ranked() -> None:
    v = _blocks(failed=[0.99, np.nan, np.nan], ok=[0.80, 0.82, 0.81], worse=[0.5, 0.52, 0.51])
    r = rank_score(v, "maximize", 1.0)
    assert r.incomplete == {"failed": (2, 3)}
    assert "failed" not in r.order and "failed" not in r.best and "failed" not in r.rank
    assert r.best == ["ok"]
    # one missing block is enough
    v.loc[2, "failed"] = 0.99
    assert "failed" not in rank_score(v, "maximize", 1.0).best


def test_a_contestant_undefined_in_every_block_is_incomplete_not_skipped() -> None:
    # TVAE sampling one class only: label fidelity has no AUROC in any block; skipping the score for
    # it would rank it on fewer columns than the rivals that were judged on it
    v = _blocks(one_class=[np.nan] * 3, ok=[0.80, 0.82, 0.81], worse=[0.5, 0.52, 0.51])
    r = rank_score(v, "maximize", 1.0)
    assert r.incomplete == {"one_class": (3, 3)}
    assert r.order == ["ok", "worse"] and "one_class" not in r.rank
    # a score no contestant has in a block drops that block, and one nobody has at all ranks no one
    v.loc[1] = np.nan
    assert rank_score(v, "maximize", 1.0).incomplete == {"one_class": (2, 2)}
    empty = rank_score(v.assign(ok=np.nan, worse=np.nan), "maximize", 1.0)
    assert empty.order == [] and empty.incomplete == {}


def test_a_failed_block_shows_n_a_in_the_tables() -> None:
    scores = _long({"ok": [0.8, 0.82, 0.81], "worse": [0.5, 0.52, 0.51], "flaky": [0.99, 0.99]},
                   "dwp_pearson_r", "maximize", 1.0)
    s = summarize(scores)
    row = s.set_index("generator").loc["flaky"]
    assert row["failed"] == 1 and row["n_blocks"] == 3 and not row["best"] and np.isnan(row["rank"])
    assert "n/a (1 of 3 failed)" in leaderboard_markdown(s)


def test_holm_controls_the_leading_set_and_bold_is_the_prefix() -> None:
    v = _blocks(a=[0.90, 0.91, 0.92, 0.90, 0.91], b=[0.89, 0.91, 0.90, 0.91, 0.90],
                c=[0.50, 0.52, 0.51, 0.50, 0.53])
    r = rank_score(v, "maximize", 1.0)
    assert set(r.best) == {"a", "b"} and r.order[-1] == "c"
    assert r.p_adjusted["c"] >= r.p_values["c"]  # adjusted upwards
    assert r.p_adjusted["c"] < 0.05


# -------------------------------------------------------------- properties and a null simulation
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _table(draw_values: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(np.array(draw_values).T, columns=[f"g{i}" for i in range(len(draw_values))])


tables = st.integers(2, 6).flatmap(lambda k: st.integers(2, 8).flatmap(lambda n: st.lists(
    st.lists(st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)), min_size=n, max_size=n),
    min_size=k, max_size=k)))


@settings(max_examples=150, deadline=None)
@given(tables)
def test_property_bold_is_closed_downward_in_merit(values) -> None:
    r = rank_score(_table(values), "maximize", 1.0)
    if r.best:
        worst = max(r.position[g] for g in r.best)
        assert {g for g in r.order if r.position[g] <= worst} == set(r.best)
        assert len(r.best) < len(r.order)


@settings(max_examples=150, deadline=None)
@given(tables, st.randoms(use_true_random=False))
def test_property_order_depends_on_the_scores_alone(values, rnd) -> None:
    t = _table(values)
    r = rank_score(t, "maximize", 1.0)
    cols = list(t.columns)
    rnd.shuffle(cols)
    rename = {c: f"z{rnd.randrange(10**6)}_{c}" for c in cols}  # names in another sort order
    r2 = rank_score(t[cols].rename(columns=rename), "maximize", 1.0)
    for g in t.columns:
        assert r.position[g] == r2.position[rename[g]]
        assert (g in r.best) == (rename[g] in r2.best)


def test_null_simulation_bold_excludes_at_most_alpha() -> None:
    """All contestants equal: the chance that the leading set excludes anyone (a false claim that
    someone is worse than the leader) stays at or below alpha within simulation error."""
    sim = np.random.default_rng(42)
    trials, k, n = 400, 5, 10
    excluded = 0
    for _ in range(trials):
        block = sim.normal(0, 1, (n, 1))  # shared block effect, as seeds/splits give
        v = pd.DataFrame(block + sim.normal(0, 0.5, (n, k)), columns=list("abcde"))
        r = rank_score(v, "minimize")
        excluded += bool(r.best)  # bold non-empty means the set is smaller than the field
    rate = excluded / trials
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / trials), rate


def test_a_dataset_nobody_completed_is_left_out_of_the_critical_difference() -> None:
    """A grid built in parts: four datasets with every contestant and one not built yet (no
    contestant complete there). Friedman's test runs over the four, not over none."""
    from bench.cd_diagram import across_datasets

    rng = np.random.default_rng(0)
    rows = []
    for d in ["d1", "d2", "d3", "d4", "unbuilt"]:
        for g, level in [("a", 0.9), ("b", 0.7), ("c", 0.5)]:
            for seed in range(5):
                value = level + rng.normal(0, 0.01) if d != "unbuilt" else np.nan
                rows.append({"generator": g, "dataset": d, "seed": seed, "category": "fidelity", "metric": "m",
                             "score": "s", "value": value, "goal": "maximize", "ideal": 1.0, "reference": False,
                             "note": ""})
    fr, why = across_datasets(pd.DataFrame(rows), "s", set())
    assert why == "" and fr is not None
    assert fr.n_blocks == 4
    assert list(fr.avg_rank.sort_values().index) == ["a", "b", "c"]
