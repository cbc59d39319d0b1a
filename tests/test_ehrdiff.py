"""EHRDiff: options, the EDM pieces against known answers, the training contract, and learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from bench.datasets.toy import make_toy
from generators import registry
from generators.baselines import IndependentGenerator
from generators.ehrdiff import EHRDiff
from generators.ehrdiff.model import PUBLISHED_EPOCHS, warmup_cosine
from generators.ehrdiff.network import EDMDenoiser, EHRDiffMLP
from generators.ehrdiff.sampler import HeunSampler
from metrics.base import SyntheticData
from metrics.prediction import DimensionWisePrediction

QUICK = EHRDiff.presets["quick"]
TINY = {**QUICK, "unit_dims": (64, 32, 64), "time_dim": 32, "class_dim": 16, "epochs": 2, "steps": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy_data() -> tuple[EHRDataset, EHRDataset]:
    return make_toy(n_records=600, seed=0).split(seed=0)


# ---------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("spec", "option", "value"),
    [
        ("ehrdiff:steps=0", "steps", "0"),
        ("ehrdiff:unit_dims=1024-0-384", "unit_dims", "0"),
        ("ehrdiff:sigma_min=90", "sigma_min", "90"),
        ("ehrdiff:ema_decay=1.5", "ema_decay", "1.5"),
        ("ehrdiff:warmup_fraction=-0.1", "warmup_fraction", "-0.1"),
        ("ehrdiff:max_updates=0", "max_updates", "0"),
        ("ehrdiff:guidance_scale=1.5", "guidance_scale", "1.5"),  # needs conditional=true
        ("ehrdiff:conditional=true,guidance_scale=2,label_dropout=0", "guidance_scale", "2"),
        ("ehrdiff:p_std=0", "p_std", "0"),
    ],
)
def test_bad_options_name_option_and_value(spec: str, option: str, value: str) -> None:
    with pytest.raises(OptionError) as exc:
        registry.make(spec)
    assert option in str(exc.value) and value in str(exc.value)


def test_published_defaults_and_presets() -> None:
    gen = registry.make("ehrdiff")
    assert gen.unit_dims == (1024, 384, 384, 384, 1024) and gen.time_dim == 384
    assert (gen.sigma_data, gen.sigma_min, gen.sigma_max, gen.p_mean, gen.p_std) == (0.14, 0.02, 80.0, -1.2, 1.2)
    assert (gen.lr, gen.weight_decay, gen.warmup_steps, gen.batch_size, gen.epochs) == (3e-4, 0.0, 20000, 1024, 5000)
    assert (gen.ema_decay, gen.steps, gen.rho, gen.guidance_scale, gen.conditional) == (0.999, 32, 7.0, 0.0, False)
    assert gen.max_updates is None
    # the cpu preset shortens the schedule, nothing else of the published model
    cpu = registry.make("ehrdiff", preset="cpu")
    assert set(EHRDiff.presets["cpu"]) <= {"epochs", "warmup_fraction"}
    assert cpu.unit_dims == gen.unit_dims and cpu.batch_size == gen.batch_size and cpu.epochs < gen.epochs
    opts = registry.make("ehrdiff:unit_dims=512-256-512,max_updates=7,conditional=true")
    assert opts.unit_dims == (512, 256, 512) and opts.max_updates == 7 and opts.supports_conditioning


def test_data_it_cannot_take() -> None:
    with pytest.raises(OptionError, match="binary"):
        EHRDiff(**TINY).fit(make_toy(n_records=100, kind="count"))
    unlabelled = EHRDataset(X=make_toy(n_records=100).X, y=None, columns=[f"c{j}" for j in range(24)])
    with pytest.raises(OptionError, match="conditional"):
        EHRDiff(**TINY, conditional=True).fit(unlabelled)


# ---------------------------------------------------------------------------------- EDM pieces
def test_warmup_cosine_schedule() -> None:
    f = warmup_cosine(10, 110)
    assert f(0) == 0 and f(5) == 0.5 and f(10) == 1.0
    assert math.isclose(f(60), 0.5) and f(110) == 0.0
    # a warm-up longer than the run (the published 20,000 steps on a small dataset) never peaks
    g = warmup_cosine(20000, 15000)
    assert max(g(s) for s in range(0, 15001, 500)) == pytest.approx(0.75)


def test_preconditioning_limits() -> None:
    torch.manual_seed(0)
    den = EDMDenoiser(EHRDiffMLP(6, (16, 16), 8), sigma_data=0.14)
    x = torch.rand(4, 6)
    # tiny noise: D is the identity (c_skip -> 1, c_out -> 0)
    assert torch.allclose(den(x, torch.full((4,), 1e-6)), x, atol=1e-5)
    # huge noise: D ignores x's scale (c_skip -> 0) and the weight is 1/sigma_data^2
    assert float(den.loss_weight(torch.tensor(1e4))) == pytest.approx(1 / 0.14**2, rel=1e-6)


def test_heun_grid_and_cost() -> None:
    smp = HeunSampler(32, 0.02, 80.0, 7.0)
    s = smp.sigmas()
    assert len(s) == 33 and float(s[0]) == pytest.approx(80.0) and float(s[31]) == pytest.approx(0.02)
    assert float(s[32]) == 0.0 and bool((s[1:] < s[:-1]).all())
    smp(lambda x, sig: torch.zeros_like(x), torch.zeros(3, 2))
    assert smp.nfe == 2 * 32 - 1


def test_heun_solves_known_flows() -> None:
    """Exact denoisers of known data: a point mass is reached exactly; for Gaussian data
    N(0, s^2) the ODE maps x_T to x_T s / sqrt(s^2 + sigma_max^2)."""
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = torch.tensor([0.0, 1.0, 0.3], dtype=torch.float64)
    out = HeunSampler(8)(lambda x, sig: c.expand_as(x), z)
    assert torch.allclose(out, c.expand_as(out), atol=1e-9)
    s2 = 0.14**2
    gauss = HeunSampler(32)(lambda x, sig: x * s2 / (s2 + sig[:, None] ** 2), z)
    exact = z * 80.0 * math.sqrt(s2) / math.sqrt(s2 + 80.0**2)
    assert float((gauss - exact).abs().max() / exact.abs().max()) < 1e-2
    # two steps are far less exact than 32: the test can fail
    rough = HeunSampler(2)(lambda x, sig: x * s2 / (s2 + sig[:, None] ** 2), z)
    assert float((rough - exact).abs().max() / exact.abs().max()) > 1e-2


# ---------------------------------------------------------------------------------- contract
def test_fit_sample_contract(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    train = toy_data[0]
    gen = EHRDiff(**TINY, random_state=0)
    params = gen.get_params()
    gen.fit(train)
    assert gen.get_params() == params  # hyperparameters untouched by fit
    assert not gen.supports_conditioning
    X, y = gen.sample(50)
    assert y is None and X.shape == (50, train.n_codes) and X.dtype == np.float32
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert [h["epoch"] for h in gen.history_] == [1, 2]
    per_epoch = math.ceil(train.n_records / TINY["batch_size"])
    assert gen.n_updates_ == 2 * per_epoch
    assert gen.schedule_fraction_ == pytest.approx(2 / PUBLISHED_EPOCHS)
    diag = gen.diagnostics()
    assert diag["nfe"] == 2 * TINY["steps"] - 1 and diag["schedule_fraction"] == gen.schedule_fraction_


def test_max_updates_caps_training(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    gen = EHRDiff(**{**TINY, "epochs": 50}, max_updates=5, random_state=0).fit(toy_data[0])
    per_epoch = math.ceil(toy_data[0].n_records / TINY["batch_size"])
    assert gen.n_updates_ == 5 and gen.history_[-1]["updates"] == 5
    assert gen.schedule_fraction_ == pytest.approx(5 / per_epoch / PUBLISHED_EPOCHS)
    assert gen.warmup_updates_ == round(0.1 * 5)


def test_same_seed_same_samples(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = EHRDiff(**TINY, random_state=7).fit(toy_data[0]).sample(40)
    assert torch.equal(torch.rand(1), before)  # the global torch RNG is left alone
    b = EHRDiff(**TINY, random_state=7).fit(toy_data[0]).sample(40)
    c = EHRDiff(**TINY, random_state=8).fit(toy_data[0]).sample(40)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_conditional_and_guidance(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    gen = EHRDiff(**TINY, conditional=True, guidance_scale=1.0, random_state=0).fit(toy_data[0])
    assert gen.supports_conditioning
    labels = np.r_[np.zeros(10), np.ones(10)].astype(int)
    X, y = gen.sample(20, labels=labels)
    assert X.shape == (20, 24) and list(y) == list(labels)
    assert gen.diagnostics()["nfe"] == 2 * (2 * TINY["steps"] - 1)  # guided: two passes a step
    _, y_drawn = gen.sample(20)
    assert y_drawn is not None and set(np.unique(y_drawn)) <= {0, 1}
    with pytest.raises(OptionError, match="0/1"):
        gen.sample(2, labels=np.array([0, 2]))


# ---------------------------------------------------------------------------------- learning
def test_quick_preset_beats_independent(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    """At the quick preset, synthetic-trained per-code models score clearly better on real
    held-out records than those trained on independent marginals (toy data: correlated blocks)."""
    train, test = toy_data
    metric = DimensionWisePrediction()

    def auroc(gen) -> float:
        X, _ = gen.fit(train.with_label_as_column()).sample(train.n_records)
        return metric.compute(train, test, SyntheticData(X[:, :-1], None))["dwpred_auroc_syn"]

    ours = auroc(EHRDiff(**QUICK, random_state=0))
    floor = auroc(IndependentGenerator(random_state=0))
    assert ours > floor + 0.05, (ours, floor)
