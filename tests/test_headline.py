"""The headline table: one row per generator, contestants first, references apart, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.headline import FACETS, REAL_ROW, facet_scores, headline_markdown, headline_table


def _scores(gens: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    rows = []
    goals = {"dwpred_auroc_syn": ("maximize", 1.0, False), "dwpred_auroc_real": ("maximize", 1.0, True),
             "mia_dcr_auroc": ("minimize", 0.5, False), "sample_s": ("minimize", 0.0, False)}
    for g, by_metric in gens.items():
        for metric, vals in by_metric.items():
            goal, ideal, ref = goals[metric]
            for seed, v in enumerate(vals):
                rows.append({"generator": g, "dataset": "toy", "seed": seed, "category": "x", "metric": "f",
                             "score": metric, "value": v, "goal": goal, "ideal": ideal, "reference": ref,
                             "note": ""})
    return pd.DataFrame(rows)


def test_headline_rows_facets_intervals_and_references_apart() -> None:
    real = [0.9, 0.91, 0.92]
    gens = {
        "independent": {"dwpred_auroc_syn": [0.5, 0.5, 0.5], "dwpred_auroc_real": real, "mia_dcr_auroc": [0.5] * 3},
        "good": {"dwpred_auroc_syn": [0.85, 0.86, 0.87], "dwpred_auroc_real": real,
                 "mia_dcr_auroc": [0.52, 0.53, 0.52]},
        "bad": {"dwpred_auroc_syn": [0.6, 0.61, 0.62], "dwpred_auroc_real": real, "mia_dcr_auroc": [0.5, 0.51, 0.5]},
    }
    t = headline_table(_scores(gens), ["independent", "good", "bad"])
    # each is first on one column: tied at mean rank 1.5, the name breaks the tie for display
    assert list(dict.fromkeys(t["generator"])) == ["bad", "good", "independent", REAL_ROW]
    overall = t.groupby("generator")["overall_rank"].first()
    assert overall["good"] == overall["bad"] == 1.5
    dw = t[t["facet"] == FACETS[0].title].set_index("generator")
    assert dw.loc["good", "best"] and not dw.loc["independent", "best"]
    assert dw.loc["good", "ci95"] > 0 and dw.loc[REAL_ROW, "mean"] == np.mean(real)
    mia = t[t["facet"].str.startswith("MIA")].set_index("generator")
    assert abs(mia.loc["good", "mean"] - (0.02 + 0.03 + 0.02) / 3) < 1e-12  # shown as the excess over 0.5
    md = headline_markdown(_scores(gens), ["independent", "good", "bad"])
    lines = md.splitlines()
    assert lines.index("| independent † |  | 0.500 ± 0.000 | 0.000 ± 0.000 |") > [
        i for i, line in enumerate(lines) if line.startswith("| bad |")][0]
    assert "**0.860 ± 0.025**" in md


def test_headline_shows_every_contestant_in_order_of_merit() -> None:
    # 20 contestants given in alphabetical order, merit the reverse: no row cap, rows by mean rank
    gens = {f"g{i:02d}": {"dwpred_auroc_syn": [0.5 + i / 100, 0.51 + i / 100]} for i in range(20)}
    for g in gens.values():
        g["dwpred_auroc_real"] = [0.9] * 2
    gens["independent"] = {"dwpred_auroc_syn": [0.5, 0.5], "dwpred_auroc_real": [0.9] * 2}
    md = headline_markdown(_scores(gens))
    rows = [line.split("|")[1].strip() for line in md.splitlines()
            if line.startswith("| g") and not line.startswith("| generator")]
    assert rows == [f"g{i:02d}" for i in reversed(range(20))]
    assert "more generator(s)" not in md and "| independent † |" in md


def test_a_failed_block_is_n_a_and_listed_after_the_ranked() -> None:
    gens = {"good": {"dwpred_auroc_syn": [0.85, 0.86, 0.87], "dwpred_auroc_real": [0.9] * 3},
            "flaky": {"dwpred_auroc_syn": [0.89, 0.89], "dwpred_auroc_real": [0.9] * 2},
            "bad": {"dwpred_auroc_syn": [0.6, 0.61, 0.62], "dwpred_auroc_real": [0.9] * 3}}
    md = headline_markdown(_scores(gens))
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in lines[1:]]
    assert names[:3] == ["good", "bad", "flaky"]
    flaky = next(line for line in lines if line.startswith("| flaky"))
    assert "incomplete" in flaky and "n/a (1 of 3 failed)" in flaky and "**" not in flaky


def test_facet_scores_name_what_the_headline_needs() -> None:
    need = facet_scores()
    assert {"dwpred_auroc_syn", "outcomes_tstr_auroc", "outcomes_trtr_auroc", "mia_dcr_auroc", "sample_s",
            "pair_fidelity_assoc", "label_fidelity_real_auroc"} <= set(need)


def test_truncated_schedules_are_marked_with_their_footnote_and_the_caption_closes() -> None:
    gens = {"short": {"dwpred_auroc_syn": [0.7, 0.71], "dwpred_auroc_real": [0.9] * 2},
            "full": {"dwpred_auroc_syn": [0.8, 0.81], "dwpred_auroc_real": [0.9] * 2},
            "independent": {"dwpred_auroc_syn": [0.5, 0.5], "dwpred_auroc_real": [0.9] * 2}}
    schedules = {("toy", "short"): (0.13, 0.13), ("toy", "full"): (1.0, 1.0)}
    md = headline_markdown(_scores(gens), schedules=schedules, caption="preset cpu; seeds [0, 1].")
    assert "| short ‡ |" in md and "| full |" in md and "| independent † |" in md
    assert "‡ short: trained on 13% of the published schedule (epochs run / published)" in md
    assert "full: trained" not in md
    assert md.rstrip().endswith("preset cpu; seeds [0, 1].")
    plain = headline_markdown(_scores(gens))
    assert "‡" not in plain and "Holm-corrected" in plain  # no caption: the legend says it


def test_a_run_without_headline_scores_shows_its_own_scores_per_generator():
    import pandas as pd

    from bench.headline import headline_markdown

    rows = [{"generator": g, "dataset": "toy", "seed": s, "category": "fidelity", "metric": "dimwise_probability",
             "score": "dwp_apd", "value": v + 0.001 * s, "goal": "minimize", "ideal": 0.0, "reference": False,
             "note": ""} for g, v in (("coin", 0.2), ("independent", 0.01)) for s in range(3)]
    text = headline_markdown(pd.DataFrame(rows))
    assert "| generator | mean rank | dwp_apd ↓ |" in text
    assert "| coin |" in text and "| independent † |" in text


def test_a_contestant_whose_every_job_failed_still_has_its_row() -> None:
    gens = {"good": {"dwpred_auroc_syn": [0.85, 0.86], "dwpred_auroc_real": [0.9] * 2},
            "bad": {"dwpred_auroc_syn": [0.6, 0.61], "dwpred_auroc_real": [0.9] * 2}}
    jobs = pd.DataFrame({"generator": ["good", "good", "bad", "bad", "broken", "broken"], "dataset": ["toy"] * 6,
                         "seed": [0, 1] * 3, "status": ["ok"] * 4 + ["error"] * 2})
    md = headline_markdown(_scores(gens), jobs=jobs)
    row = next(line for line in md.splitlines() if line.startswith("| broken"))
    assert "incomplete" in row and "n/a (2 of 2 failed)" in row and "**" not in row
