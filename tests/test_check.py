"""``bench check``: the tolerance rule, the baseline file, the CLI (fast, on the toy dataset).

The proof that the check catches realistic regressions of trained models is in
tests/test_check_mutants.py.
"""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from bench.check import format_moved, load_baseline
from bench.check.grid import (
    CI_GENERATORS,
    CI_SEEDS,
    CI_UNGUARDED,
    LABEL_GUARDED,
    LABEL_ONLY_DATASETS,
    MIN_DWP_LEAD,
    STRUCTURE_DATASETS,
    ci_config,
)
from bench.check.regress import Moved
from bench.check.rule import ANCHORS, Entry, Rule, derive
from bench.cli import main
from bench.core.errors import OptionError
from generators import registry as generator_registry
from generators.registry import BUILTIN

SEEDS = "0,1,2,3,4"
TOY = ["-d", "toy", "-s", SEEDS, "-m", "dimwise_probability,mia_dcr,tstr_lr,speed", "--no-progress"]


def _entry(gen, metric, values, lower=0.0, upper=1.0):
    return Entry("d", gen, metric, "maximize", lower, upper, dict(enumerate(values)))


# ------------------------------------------------------------------------------------ the rule
def test_tolerance_is_a_bonferroni_t_bound_on_the_difference_of_seed_means():
    from scipy import stats

    rule = Rule()
    es = derive([_entry("independent", "s", [0.50] * 5), _entry("real-copy", "s", [0.90] * 5),
                 _entry("g", "s", [0.80, 0.81, 0.79, 0.80, 0.80])], [0, 1, 2, 3, 4], rule)
    g = es[2]
    t = stats.t.ppf(1 - 0.05 / 3 / 2, 4)
    assert g.t == pytest.approx(t)
    assert g.tolerance(rule) == pytest.approx(t * g.std * math.sqrt(2 / 5))
    assert g.tolerance(rule, 2) == pytest.approx(t * g.std * math.sqrt(2 / 2))  # fewer seeds: wider
    assert g.cap == pytest.approx(0.25 * 0.40) and g.checked
    # the anchors are constant over seeds: the floor, a tenth of the cap
    assert es[0].tolerance(rule) == pytest.approx(0.1 * 0.1) and es[0].checked


def test_scores_too_noisy_or_without_scale_are_excluded_by_rule():
    rule = Rule()
    es = derive([
        _entry("independent", "s", [0.50] * 5), _entry("real-copy", "s", [0.60] * 5),
        _entry("noisy", "s", [0.1, 0.9, 0.3, 0.7, 0.5]),  # spread far beyond a quarter of 0.1
        _entry("independent", "u", [1.0, 2.0, 3.0, 1.0, 2.0], upper=math.inf),
        _entry("real-copy", "u", [1.0, 2.0, 3.0, 1.0, 2.0], upper=math.inf),  # anchors agree, unbounded
        _entry("independent", "tiny", [0.0, 1e-4, 0.0, 2e-4, 0.0]),
        _entry("real-copy", "tiny", [0.5] * 5),  # bound >= |mean| on a range not centred on 0
        _entry("independent", "gap", [-0.01, 0.0, 0.01, 0.0, 0.0], lower=-1.0),
        _entry("real-copy", "gap", [0.2] * 5, lower=-1.0),  # centred range: |mean| near 0 is fine
        _entry("late", "s", [0.5, 0.5, 0.5, 0.5]),  # missing for seed 4
    ], [0, 1, 2, 3, 4], rule)
    why = {(e.generator, e.metric): e.reason for e in es}
    assert why[("noisy", "s")].startswith("seed spread too wide")
    assert why[("independent", "u")].startswith("no cap")
    assert why[("independent", "tiny")].startswith("tolerance") and ">= |mean|" in why[("independent", "tiny")]
    assert why[("independent", "gap")] == ""
    assert why[("late", "s")].startswith("missing for seeds [4]")
    assert all(e.tolerance(rule) <= e.cap for e in es if e.checked)
    assert all(e.tolerance(rule) < abs(e.mean()) for e in es if e.checked and not e.centred)


def test_reference_scores_are_capped_by_their_range():
    rule = Rule()
    es = derive([_entry("independent", "ref", [0.9] * 5), _entry("real-copy", "ref", [0.9] * 5)],
                [0, 1, 2, 3, 4], rule)
    assert es[0].cap == pytest.approx(0.02) and es[0].checked


def test_a_label_score_is_scaled_by_its_distance_from_label_blind_records():
    """Independent samples codes per class and keeps the label nearly as well as the data (toy's
    TSTR 0.884 against 0.896): without the blind anchor the cap is a quarter of 0.012, and a
    generator whose conditioning is lost (AUROC 0.5) moves far past any tolerance."""
    rule = Rule()
    values = [0.88, 0.89, 0.90, 0.89, 0.88]

    def grid(blind):
        es = [_entry("independent", "auc", [0.884] * 5), _entry("real-copy", "auc", [0.896] * 5),
              _entry("g", "auc", values)]
        for e in es:
            e.blind = blind
        return {e.generator: e for e in derive(es, [0, 1, 2, 3, 4], rule)}

    plain, labelled = grid(None)["g"], grid(0.5)["g"]
    assert plain.cap == pytest.approx(0.25 * (0.896 - 0.884)) and not plain.checked
    assert labelled.cap == pytest.approx(0.25 * (0.896 - 0.5)) and labelled.checked
    assert labelled.tolerance(rule) < 0.896 - 0.5  # a label-blind rerun fails the check


def test_a_generator_given_more_seeds_gets_its_own_narrower_bound():
    """Per-generator seeds: each entry's t quantile and standard error use its generator's count,
    and a generator's seeds beyond the grid's never leak into the anchors' means."""
    from scipy import stats

    rule = Rule()
    spread = [0.60, 0.64, 0.58, 0.62, 0.66, 0.56, 0.61, 0.59]
    grid = {"independent": list(range(8)), "real-copy": list(range(8)), "g": list(range(16))}
    es = derive([_entry("independent", "s", [0.50] * 8), _entry("real-copy", "s", [0.90] * 8),
                 _entry("g", "s", spread * 2)], grid, rule)
    g = es[2]
    assert g.t == pytest.approx(stats.t.ppf(1 - 0.05 / 3 / 2, 15))
    assert g.tolerance(rule) == pytest.approx(g.t * g.std * math.sqrt(2 / 16))
    at_eight = derive([_entry("independent", "s", [0.50] * 8), _entry("real-copy", "s", [0.90] * 8),
                       _entry("g", "s", spread)], list(range(8)), rule)[2]
    assert g.tolerance(rule) < 0.6 * at_eight.tolerance(rule)  # t falls and sqrt(2/k) too
    assert es[0].t == pytest.approx(stats.t.ppf(1 - 0.05 / 3 / 2, 7))
    # an anchor with values at more seeds than its grid gives it: only its own seeds count
    es = derive([_entry("independent", "s", [0.50] * 8 + [0.0] * 8), _entry("real-copy", "s", [0.90] * 8)],
                grid, rule)
    assert sorted(es[0].values) == list(range(8)) and es[0].mean() == pytest.approx(0.50)
    with pytest.raises(OptionError, match="at least 5 seeds"):
        derive([], {**grid, "g": [0, 1, 2]}, rule)


def test_a_baseline_needs_five_seeds():
    with pytest.raises(OptionError, match="at least 5 seeds"):
        derive([_entry("independent", "s", [0.5, 0.5])], [0, 1], Rule())


def test_failure_table_names_generator_score_baseline_now_tolerance_and_multiple():
    text = format_moved([Moved("eunomia", "meddiff", "dwpred_auroc_syn", "maximize", 0.80, 0.55, 0.02)])
    head, _, row = text.splitlines()
    assert head.split() == ["generator", "score", "baseline", "now", "tolerance", "x", "tol", "direction"]
    assert row.split() == ["meddiff", "dwpred_auroc_syn", "0.8", "0.55", "0.02", "12.5", "worse"]


# ------------------------------------------------------------------------------------ the CI grid
def test_ci_grid_is_explicit_valid_and_has_the_anchors():
    cfg = ci_config()
    assert cfg.preset is None and len(CI_SEEDS) >= Rule().min_seeds
    assert set(ANCHORS) <= set(cfg.generator_labels)
    for spec in CI_GENERATORS:
        generator_registry.make(spec, random_state=0)  # raises on a bad option
    contestants = [g for g in CI_GENERATORS if g not in ANCHORS]
    assert {g.partition(":")[0] for g in contestants} >= {"meddiff", "medgan"}
    assert all(":" in g for g in contestants)  # schedules are options, not a preset others retune
    assert MIN_DWP_LEAD == 0.05


# ------------------------------------------------------------------------------------ the file
def test_an_old_baseline_is_refused_with_the_file_and_the_command(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"config": {"generators": ["independent"]}, "tolerance_rule": "max(3.0 x std ...)",
                               "scores": []}))
    assert main(["check", "--baseline", str(old)]) == 2
    err = capsys.readouterr().err
    assert str(old) in err and "older ehrbench" in err and "--update" in err


def test_missing_or_malformed_baseline_exits_2(tmp_path, capsys):
    assert main(["check", "--baseline", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["check", "--baseline", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_saving_a_checks_records_needs_a_kept_folder(capsys):
    assert main(["check", "--save-synthetic"]) == 2
    assert "--save-synthetic needs --keep" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def toy_baseline(tmp_path_factory):
    path = tmp_path_factory.mktemp("check") / "b.json"
    assert main(["check", "--update", "--baseline", str(path), "-g", "independent", *TOY,
                 "--reason", "toy grid for tests", "--force"]) == 0
    return path


def test_update_writes_rule_reason_history_and_exclusions(toy_baseline):
    data = json.loads(toy_baseline.read_text())
    assert data["format"] == 2 and data["reason"] == "toy grid for tests"
    assert data["config"]["generators"] == list(ANCHORS)  # the anchors are always part of the grid
    h = data["history"][-1]
    assert h["reason"] == "toy grid for tests" and h["forced"] and h["rule"] == data["rule"]["text"]
    assert "date" in h and "commit" in h
    scores = data["scores"]
    assert not any(s["metric"] in ("fit_s", "sample_s", "peak_mem_mb") for s in scores)  # speed: never
    assert all(len(s["values"]) == 5 for s in scores if s["checked"])
    assert len(data["excluded"]) == sum(not s["checked"] for s in scores)
    assert all(s["tolerance"] <= s["cap"] for s in scores if s["checked"])


def test_unchanged_code_passes_and_a_leaky_metric_fails_with_a_table(toy_baseline, monkeypatch, capsys):
    assert main(["check", "--baseline", str(toy_baseline), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("check passed:") and out.count("\n") == 1
    from metrics.utility import TSTRLogistic

    original = TSTRLogistic.compute
    monkeypatch.setattr(TSTRLogistic, "compute", lambda self, tr, te, syn: original(self, tr, tr, syn))
    assert main(["check", "--baseline", str(toy_baseline), "-g", "independent", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "check FAILED" in out and "x tol" in out
    assert any(line.split()[:2] == ["independent", "trtr_lr_auroc"] for line in out.splitlines())
    assert "fit_s" not in out  # speed measures the machine and is never checked


def test_check_walks_down_its_modules_once(toy_baseline, capsys):
    """``bench check`` is one walk down the modules (tests/module_walk.py): the check's modules
    each entered once, in order; the rerun's scores read once from its job records; no table
    rendered, since nothing reads the rerun's tables."""
    from module_walk import harness_layers, walk

    rc, w = walk(lambda: main(["check", "--baseline", str(toy_baseline), "--no-progress"]), harness_layers)
    assert rc == 0 and capsys.readouterr().out.startswith("check passed:")
    modules = w.modules()
    assert [m for m in modules if m.startswith("bench.check.")] == [
        "bench.check.command", "bench.check.baseline", "bench.check.rule", "bench.check.grid", "bench.check.regress"]
    assert modules.count("bench.harness") == modules.count("bench.results") == 1, w.text()
    assert not {"bench.tables", "bench.headline", "bench.verdict", "bench.ranking", "bench.schedules"} & set(modules)
    assert not [m for m in w.returns if m.startswith("bench.check.") or m in ("bench.harness", "bench.results")]


def test_a_kept_rerun_has_its_tables_rendered_once(toy_baseline, tmp_path, capsys):
    assert main(["check", "--baseline", str(toy_baseline), "-g", "real-copy", "-m", "trtr_lr_auroc",
                 "--keep", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    (run_dir,) = [d for d in tmp_path.iterdir() if (d / "manifest.json").is_file()]
    assert (run_dir / "headline.md").is_file() and (run_dir / "scores.csv").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"


def test_a_kept_rerun_can_save_what_each_job_sampled(toy_baseline, tmp_path, capsys):
    """What the mutant tests replay (tests/mutants.py): the records of each job, named by the job."""
    assert main(["check", "--baseline", str(toy_baseline), "-g", "independent,real-copy", "-s", "0",
                 "-m", "trtr_lr_auroc", "--keep", str(tmp_path), "--save-synthetic", "--no-progress"]) == 0
    assert "check passed" in capsys.readouterr().out
    saved = sorted(p.name for p in tmp_path.glob("*/synthetic/*.npz"))
    assert saved == ["independent__toy__s0.npz"], saved  # never real-copy's: those are the training rows


def test_check_runs_part_of_the_grid(toy_baseline, capsys):
    assert main(["check", "--baseline", str(toy_baseline), "-g", "real-copy", "-s", "0,1", "-m", "trtr_lr_auroc",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "check passed: 1 scores" in out and "1 generators x 1 datasets x seeds [0, 1]" in out
    for bad, msg in ((["-g", "meddiff"], "not in the baseline's grid"), (["-s", "9"], "not in the baseline's seeds"),
                     (["-m", "nosuch"], "neither a metric family"),
                     (["-m", "tstr_lr_importance_overlap"], "nothing to check")):
        assert main(["check", "--baseline", str(toy_baseline), *bad, "--no-progress"]) == 2
        assert msg in capsys.readouterr().err


@pytest.fixture(scope="module")
def more_seeds_baseline(tmp_path_factory):
    """A toy baseline whose real-copy runs seeds 5-9 beyond the grid's 0-4 (``--more-seeds``)."""
    path = tmp_path_factory.mktemp("more") / "b.json"
    assert main(["check", "--update", "--baseline", str(path), "-g", "independent", "-d", "toy", "-s", "0,1,2,3,4",
                 "--more-seeds", "real-copy@5,6,7,8,9", "-m", "mia_dcr,tstr_lr", "--no-progress",
                 "--reason", "more seeds", "--force"]) == 0
    return path


def test_more_seeds_are_stored_run_and_checked_per_generator(more_seeds_baseline, capsys):
    data = json.loads(more_seeds_baseline.read_text())
    assert data["more_seeds"] == {"real-copy": [5, 6, 7, 8, 9]}
    by = {(s["generator"], s["metric"]): s for s in data["scores"]}
    assert sorted(map(int, by[("real-copy", "trtr_lr_auroc")]["values"])) == list(range(10))
    assert sorted(map(int, by[("independent", "tstr_lr_auroc")]["values"])) == list(range(5))
    assert load_baseline(more_seeds_baseline)["_seeds"] == {"independent": [0, 1, 2, 3, 4], "real-copy": list(range(10))}
    assert main(["check", "--baseline", str(more_seeds_baseline), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "seeds [0, 1, 2, 3, 4] (real-copy: seeds 0-9)" in out
    # seeds only real-copy has: independent sits out rather than failing
    assert main(["check", "--baseline", str(more_seeds_baseline), "-s", "5,6,7,8,9", "--no-progress"]) == 0
    assert "1 generators x 1 datasets x seeds [5, 6, 7, 8, 9]" in capsys.readouterr().out


SCOPED = "medgan:ae_epochs=1,batch_size=64,epochs=2"


@pytest.fixture(scope="module")
def scoped_baseline(tmp_path_factory):
    """A toy baseline of two datasets and six seeds in which medGAN runs on part of it (its scope:
    seeds 0-4, the first dataset, one metric family), as CI_SCOPES puts the rest of the field."""
    from bench.check.baseline import make_baseline
    from bench.harness import RunConfig

    path = tmp_path_factory.mktemp("scoped") / "b.json"
    cfg = RunConfig(generators=["independent", "real-copy", SCOPED], datasets=["toy", "toy:n_records=300"],
                    seeds=list(range(6)), metrics=["mia_dcr", "tstr_lr"])
    label = cfg.generator_labels[2]
    make_baseline(cfg, path, path.parent / "work", "scoped", force=True, progress=False,
                  scopes={label: {"seeds": [0, 1, 2, 3, 4], "datasets": ["toy"], "metrics": ["tstr_lr"]}})
    return path, label


def test_a_scoped_generator_runs_and_is_checked_on_its_part_of_the_grid(scoped_baseline, capsys):
    path, label = scoped_baseline
    data = json.loads(path.read_text())
    assert data["scopes"] == {label: {"seeds": [0, 1, 2, 3, 4], "datasets": ["toy"], "metrics": ["tstr_lr"]}}
    mine = [s for s in data["scores"] if s["generator"] == label]
    assert mine and {s["dataset"] for s in mine} == {"toy"}
    assert {s["metric"] for s in mine} <= {"tstr_lr_auroc", "trtr_lr_auroc", "tstr_lr_auroc_gap", "tstr_lr_auprc",
                                           "trtr_lr_auprc", "tstr_lr_auprc_gap", "tstr_lr_importance_overlap"}
    assert all(sorted(map(int, s["values"])) == [0, 1, 2, 3, 4] for s in mine if s["values"])
    # the anchors ran everything: both datasets, both families, six seeds
    anchors = [s for s in data["scores"] if s["generator"] == "independent"]
    assert {s["dataset"] for s in anchors} == {"toy", "toy:n_records=300"}
    assert any(s["metric"].startswith("mia") for s in anchors)
    assert load_baseline(path)["_seeds"][label] == [0, 1, 2, 3, 4]
    assert main(["check", "--baseline", str(path), "--no-progress"]) == 0
    assert f"3 generators x 2 datasets x seeds [0, 1, 2, 3, 4, 5] ({label}: seeds 0-4)" in capsys.readouterr().out
    # outside its part of the grid the scoped generator sits out instead of failing
    assert main(["check", "--baseline", str(path), "-d", "toy:n_records=300", "--no-progress"]) == 0
    assert "2 generators x 1 datasets" in capsys.readouterr().out


def test_a_scope_outside_the_grid_is_refused_naming_the_file(scoped_baseline, tmp_path, capsys):
    path, label = scoped_baseline
    data = json.loads(path.read_text())
    for scope, msg in (({label: {"datasets": ["eunomia"]}}, "names datasets ['eunomia'] outside the grid's"),
                       ({"ctgan": {"seeds": [0]}}, "scopes name 'ctgan', which is not among its generators"),
                       ({label: {"metrics": []}}, "has no metrics"),
                       ({label: {"epochs": [1]}}, "must map seeds, datasets and metrics")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**data, "scopes": scope}))
        assert main(["check", "--baseline", str(bad), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "bad.json is malformed" in err and msg in err, err


def test_more_seeds_naming_a_generator_outside_the_grid_is_refused(more_seeds_baseline, tmp_path, capsys):
    data = json.loads(more_seeds_baseline.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "more_seeds": {"medgan": [8]}}))
    assert main(["check", "--baseline", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "more_seeds names 'medgan'" in err
    assert main(["check", "--baseline", str(more_seeds_baseline), "--ci-grid", "--no-progress"]) == 2
    assert "go with --update" in capsys.readouterr().err
    update = ["check", "--update", "--baseline", str(tmp_path / "new.json"), "-g", "independent", "-d", "toy",
              "--reason", "x", "--force"]
    for bad, msg in (("medgan@8,9", "'medgan' is not in the grid"), ("real-copy", "expected GEN@SEEDS"),
                     ("real-copy@8,x", "comma-separated integers"), ("real-copy@8,8", "distinct non-negative")):
        assert main([*update, "--more-seeds", bad]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "new.json").exists()


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_update_needs_a_reason_and_a_committed_tree(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "init")
    (repo / "gen.py").write_text("x = 1\n")
    _git(repo, "add", "gen.py")
    monkeypatch.chdir(repo)
    path = repo / "b.json"
    args = ["check", "--update", "--baseline", str(path), "-g", "independent", *TOY]
    assert main(args) == 2
    assert "--reason" in capsys.readouterr().err
    assert main([*args, "--reason", "x"]) == 2  # gen.py staged, not committed
    err = capsys.readouterr().err
    assert "uncommitted changes (gen.py)" in err and "--force" in err and not path.exists()
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "gen")
    assert main([*args, "--reason", "first"]) == 0
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    data = load_baseline(path)
    assert data["commit"] == head and not data["history"][-1]["forced"]
    # the baseline file itself does not count as a change; a second update keeps the history
    _git(repo, "add", "b.json")
    assert main(["check", "--update", "--baseline", str(path), "--no-progress", "--reason", "second"]) == 0
    assert [h["reason"] for h in load_baseline(path)["history"]] == ["first", "second"]


def test_committed_baseline_meets_the_rule():
    """The committed CI baseline: every contestant learned structure, every tolerance obeys the cap."""
    from pathlib import Path

    from bench.check.baseline import DEFAULT_BASELINE, StaleBaseline, dwp_leads, entry_from_dict

    path = Path(__file__).resolve().parent.parent / DEFAULT_BASELINE
    try:
        base = load_baseline(path)
    except StaleBaseline:
        pytest.skip(f"{DEFAULT_BASELINE} is of an older format; rebuild it (docs/ci.md)")
    leads = {k: v for k, v in dwp_leads(base).items() if k[0] not in LABEL_ONLY_DATASETS}
    assert leads and all(v >= MIN_DWP_LEAD for v in leads.values()), leads
    for s in base["scores"]:
        if s["checked"]:
            assert s["tolerance"] <= s["cap"], s
            assert entry_from_dict(s).centred or s["tolerance"] < abs(s["mean"]), s
    assert len(base["config"]["seeds"]) >= 5 and base["history"][-1]["reason"]
    # the check can see each contestant lose its structure: its dim-wise AUROC is a checked score
    guarded = {s["generator"] for s in base["scores"] if s["metric"] == "dwpred_auroc_syn" and s["checked"]}
    assert {g for _, g in leads} <= guarded, sorted({g for _, g in leads} - guarded)
    # every built-in contestant is in the grid and guarded on a structure dataset (eunomia or the
    # unlabelled toy set), or named with its reason
    contestants = set(BUILTIN) - set(ANCHORS)
    on_structure = {g.partition(":")[0] for ds, g in leads if ds in STRUCTURE_DATASETS and g in guarded}
    assert contestants - set(CI_UNGUARDED) <= on_structure, sorted(contestants - set(CI_UNGUARDED) - on_structure)
    assert set(CI_UNGUARDED) <= contestants and not set(CI_UNGUARDED) & on_structure
    # and losing most of what it learned fails: its lead over independent is over 1.5 tolerances
    dwp = {(s["dataset"], s["generator"]): s for s in base["scores"] if s["metric"] == "dwpred_auroc_syn"}
    for (ds, g), lead in leads.items():
        if ds in STRUCTURE_DATASETS:
            assert lead >= 1.5 * dwp[ds, g]["tolerance"], (ds, g, lead, dwp[ds, g]["tolerance"])
    # and each contestant that conditions on the label has its label scores checked where the label
    # depends on the codes (a fault in conditioning must be seen: test_check_mutants_conditioning.py)
    checked = {(s["dataset"], s["generator"].partition(":")[0], s["metric"]) for s in base["scores"] if s["checked"]}
    for ds in LABEL_ONLY_DATASETS:
        for name, scores in LABEL_GUARDED.items():
            assert {(ds, name, m) for m in scores} <= checked, (ds, name, scores)


def test_refresh_reruns_only_the_named_generators_and_keeps_the_rest_as_stored(tmp_path, capsys):
    """``--update --refresh G``: G's values come from a fresh run, every other generator's from the
    stored file as it is (here a stored anchor value altered by hand survives), the rule is applied
    to the whole again, and the history names what was refreshed. Anchors, a changed grid and a
    refresh outside --update are refused."""
    path = tmp_path / "b.json"
    gen = "medgan:ae_epochs=1,epochs=2"
    assert main(["check", "--update", "--baseline", str(path), "-g", f"independent,{gen}", *TOY,
                 "--reason", "first", "--force"]) == 0
    first = json.loads(path.read_text())
    label = next(s["generator"] for s in first["scores"] if s["generator"].startswith("medgan"))
    assert any(s["generator"] == "independent" and s["metric"] == "dwp_pearson_r" for s in first["scores"])
    stored = json.loads(path.read_text())
    for s in stored["scores"]:
        if s["generator"] == label:
            s["values"] = {k: 0.123 for k in s["values"]}  # stale values the refresh must replace
        if s["generator"] == "independent" and s["metric"] == "dwp_pearson_r":
            s["values"]["0"] += 1e-6  # a stored value the refresh must keep
    path.write_text(json.dumps(stored))
    assert main(["check", "--update", "--baseline", str(path), "--refresh", "medgan", "--reason", "refresh",
                 "--force", "--no-progress"]) == 0
    after = json.loads(path.read_text())
    by_key = {(s["generator"], s["dataset"], s["metric"]): s for s in after["scores"]}
    for s in first["scores"]:
        now = by_key[(s["generator"], s["dataset"], s["metric"])]
        if s["generator"] == label:
            assert now["values"] == s["values"]  # rerun: the first build's numbers, not the stale ones
        elif s["generator"] == "independent" and s["metric"] == "dwp_pearson_r":
            assert now["values"]["0"] == s["values"]["0"] + 1e-6
        elif s["metric"] != "dwp_pearson_r":
            assert now == s  # kept whole: values, the rule's verdict and its reason, written once
    assert after["history"][-1]["refreshed"] == [label] and after["config"] == first["config"]
    capsys.readouterr()
    for extra, message in ((["--refresh", "independent"], "anchor"), (["--refresh", "medgan", "-s", "0,1,2,3,4"], "--refresh"),
                           (["--refresh", "ctgan"], "not in the stored grid")):
        assert main(["check", "--update", "--baseline", str(path), *extra, "--reason", "x", "--force"]) == 2
        assert message in capsys.readouterr().err
    assert main(["check", "--baseline", str(path), "--refresh", "medgan"]) == 2
    assert "go with --update" in capsys.readouterr().err


def test_a_kept_entry_gets_the_rules_verdict_written_once():
    """A stored score the rule had marked missing keeps the run's own note under one prefix when
    the rule runs on it again (a refresh), and a stored verdict is recomputed, not carried."""
    from bench.check.baseline import entry_to_dict, kept_entry

    rule = Rule()
    entries = derive([_entry("independent", "s", [0.5] * 5), _entry("real-copy", "s", [0.9] * 5),
                      _entry("g", "s", [0.7, 0.71, 0.69, 0.7, 0.7]), _entry("g", "m", [])], range(5), rule)
    entries[-1].reason = "missing for seeds [0, 1, 2, 3, 4]: not applicable: no sex columns"
    once = [entry_to_dict(e, rule) for e in entries]
    twice = [entry_to_dict(e, rule) for e in derive([kept_entry(d) for d in once], range(5), rule)]
    assert twice == once
