"""Every built-in metric keeps the contract: it returns only scores it declares, within their
declared ranges, on binary and count data alike, and refuses what it cannot score with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.errors import MetricNotApplicable
from bench.datasets.toy import make_toy
from generators.baselines import IndependentGenerator
from metrics import registry
from metrics.base import CATEGORIES, GOALS, SyntheticData, notes_of
from metrics.speed import Speed

OWN = [n for n in registry.BUILTIN if n != "label_fidelity"]  # label_fidelity is tested by its owner
EXISTING_SCORES = {
    "dimwise_probability": {"dwp_pearson_r", "dwp_apd", "dwp_never_generated"},
    "tstr_lr": {"tstr_lr_auroc", "trtr_lr_auroc"},
    "tstr_xgb": {"tstr_xgb_auroc", "trtr_xgb_auroc"},
    "mia_dcr": {"mia_dcr_auroc"},
    "speed": {"fit_s", "sample_s", "samples_per_s", "peak_mem_mb"},
}
FAST = {"sdmetrics_quality": {"max_columns": 5, "max_records": 150}}
NEEDS_SEX = {"knowledge_violations"}  # not applicable to toy data, which has no sex columns


def test_registry_names_and_declarations() -> None:
    for name, scores in EXISTING_SCORES.items():
        assert scores <= {s.name for s in registry.get_class(name).scores}
    seen: set[str] = set()
    for name in OWN:
        cls = registry.get_class(name)
        assert cls.name == name and cls.category in CATEGORIES
        assert (cls.__doc__ or "").strip(), name
        for s in cls.scores:
            assert s.goal in GOALS and s.lower <= s.upper
            if isinstance(s.ideal, str):  # the name of a reference score of the same metric
                assert cls.score(s.ideal).reference, f"{s.name}: ideal {s.ideal} is not a reference score"
            else:
                assert s.ideal is None or s.lower <= s.ideal <= s.upper
            assert s.goal != "target" or s.ideal is not None, f"{s.name}: a target without an ideal"
            assert s.name not in seen, f"score {s.name} declared twice"
            seen.add(s.name)
    assert registry.get_class("sdmetrics_quality").default is False
    assert {"dimwise_probability", "pair_fidelity", "detection", "mia_dcr", "speed"} <= {
        n for n in OWN if registry.get_class(n).default
    }


@pytest.mark.parametrize("kind", ["binary", "count"])
def test_every_metric_runs_within_its_ranges(kind: str) -> None:
    data = make_toy(n_records=240, n_codes=12, seed=1, kind=kind)
    train, test = data.split(seed=0)
    X, y = IndependentGenerator(random_state=0).fit(train).sample(train.n_records, train.y)
    syn = SyntheticData(X, y, {"fit_s": 2.0, "sample_s": 0.5, "peak_mem_mb": 300.0})
    for name in OWN:
        if name == "sdmetrics_quality":
            pytest.importorskip("sdmetrics")
        cls = registry.get_class(name)
        metric = cls(random_state=0, **FAST.get(name, {}))
        if name in NEEDS_SEX:
            with pytest.raises(MetricNotApplicable, match="sex"):
                metric.compute(train, test, syn)
            continue
        out = metric.compute(train, test, syn)
        declared = {s.name: s for s in cls.scores}
        assert set(out) <= set(declared), name
        missing = set(declared) - set(out) - set(notes_of(out))  # the result says why
        assert "notes" not in vars(metric), f"{name}: results leave compute through its return only"
        if name == "speed":
            missing -= {"gpu_peak_mem_mb", "nfe", "nfe_total"}  # not recorded by this job
        assert not missing, f"{name}: {missing} neither returned nor explained"
        for key, value in out.items():
            s = declared[key]
            assert np.isfinite(value), (name, key)
            assert s.lower - 1e-9 <= value <= s.upper + 1e-9, (name, key, value)


def test_metrics_are_seeded(toy_split) -> None:
    train, test = toy_split
    X, y = IndependentGenerator(random_state=0).fit(train).sample(train.n_records, train.y)
    syn = SyntheticData(X, y)
    for name in ("nnaa", "attribute_inference", "latent_cluster", "dimwise_prediction"):
        cls = registry.get_class(name)
        assert cls(random_state=3).compute(train, test, syn) == cls(random_state=3).compute(train, test, syn)


def test_wrong_shape_is_not_applicable(toy_split) -> None:
    train, test = toy_split
    bad = SyntheticData(train.X[:, :5], train.y)
    for name in OWN:
        if name in ("speed", "sdmetrics_quality"):
            continue
        with pytest.raises(MetricNotApplicable, match="columns"):
            registry.get_class(name)().compute(train, test, bad)


def test_speed_reports_what_was_measured(toy_split) -> None:
    train, test = toy_split
    syn = SyntheticData(train.X, None, {"fit_s": 3.0, "sample_s": 0.5, "peak_mem_mb": 100.0,
                                        "gpu_peak_mem_mb": 900.0, "nfe": 8, "nfe_total": 64})
    out = Speed().compute(train, test, syn)
    assert out == {"fit_s": 3.0, "sample_s": 0.5, "samples_per_s": train.n_records / 0.5,
                   "peak_mem_mb": 100.0, "gpu_peak_mem_mb": 900.0, "nfe": 8.0, "nfe_total": 64.0}
    cpu = Speed().compute(train, test, SyntheticData(train.X, None, {"fit_s": 1, "sample_s": 1, "gpu_peak_mem_mb": None}))
    assert "gpu_peak_mem_mb" not in cpu and "nfe" not in cpu and "nfe_total" not in cpu
    with pytest.raises(MetricNotApplicable, match="timings"):
        Speed().compute(train, test, SyntheticData(train.X, None))


def test_sparse_datasets_give_the_dense_results_without_densifying(toy_split) -> None:
    sp = pytest.importorskip("scipy.sparse")
    from bench.core.data import EHRDataset
    from metrics.base import take_rows

    train, test = toy_split
    if not hasattr(EHRDataset, "is_sparse"):
        pytest.skip("this EHRDataset has no sparse storage")

    def sparse(d: EHRDataset) -> EHRDataset:
        return EHRDataset(X=sp.csr_matrix(d.X), y=d.y, columns=d.columns, kind=d.kind, name=d.name)

    s_train, s_test = sparse(train), sparse(test)
    assert s_train.is_sparse and not s_train.has_dense
    rows = take_rows(s_train, 50, np.random.default_rng(0))
    assert np.array_equal(rows, take_rows(train, 50, np.random.default_rng(0)))
    X, y = IndependentGenerator(random_state=0).fit(train).sample(train.n_records, train.y)
    syn = SyntheticData(X, y)
    for name in ("nnaa", "attribute_inference", "latent_cluster", "prdc", "mmd", "detection"):
        cls = registry.get_class(name)
        assert cls().compute(s_train, s_test, syn) == cls().compute(train, test, syn), name
    assert not s_train.has_dense and not s_test.has_dense
