"""MedDiff: options, training contract, samplers over one model, label conditioning (tiny runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from bench.datasets.toy import make_toy
from generators import registry
from generators.meddiff import MedDiff
from generators.meddiff.samplers import DDIM, Ancestral, DPMSolverPP2M, ParaTAA, make_sampler
from generators.meddiff.schedule import make_schedule

TINY = dict(timesteps=100, hidden_dim=48, n_blocks=1, time_dim=16, epochs=60, batch_size=128, steps=10)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy_data() -> tuple[EHRDataset, EHRDataset]:
    return make_toy(n_records=600, seed=0).split(seed=0)


@pytest.fixture(scope="module")
def fitted(toy_data: tuple[EHRDataset, EHRDataset]) -> MedDiff:
    return MedDiff(**TINY, random_state=0).fit(toy_data[0])


@pytest.fixture(scope="module")
def fitted_clf(toy_data: tuple[EHRDataset, EHRDataset]) -> MedDiff:
    return MedDiff(**TINY, guidance="classifier", guidance_scale=2.0, random_state=0).fit(toy_data[0])


def _real_classifier(train: EHRDataset):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(train.X, train.y)


# ---------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("spec", "option", "value"),
    [
        ("meddiff:steps=0", "steps", "0"),
        ("meddiff:steps=-3", "steps", "-3"),
        ("meddiff:sampler=euler", "sampler", "euler"),
        ("meddiff:steps=2000", "steps", "2000"),
        ("meddiff:timesteps=50,steps=51", "steps", "51"),
        ("meddiff:schedule=sigmoid", "schedule", "sigmoid"),
        ("meddiff:guidance=both", "guidance", "both"),
        ("meddiff:aa_tol=0", "aa_tol", "0"),
        ("meddiff:eta=-0.5", "eta", "-0.5"),
    ],
)
def test_bad_options_name_option_and_value(spec: str, option: str, value: str) -> None:
    with pytest.raises(OptionError) as exc:
        registry.make(spec)
    assert option in str(exc.value)
    assert value in str(exc.value)


def test_guidance_needs_a_label() -> None:
    unlabelled = EHRDataset(X=make_toy(n_records=100).X, y=None, columns=[f"c{j}" for j in range(24)])
    for mode in ("classifier-free", "classifier"):
        with pytest.raises(OptionError, match=f"guidance.*{mode}"):
            MedDiff(**{**TINY, "epochs": 1}, guidance=mode).fit(unlabelled)
    # the default (auto) trains an unconditional model and returns no labels
    gen = MedDiff(**{**TINY, "epochs": 1}, random_state=0).fit(unlabelled)
    X, y = gen.sample(20)
    assert y is None and X.shape == (20, 24)


def test_classifier_free_scale_needs_label_dropout(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    with pytest.raises(OptionError, match="label_dropout"):
        MedDiff(**TINY, guidance_scale=2.0, label_dropout=0.0).fit(toy_data[0])


def test_options_from_the_registry_are_typed() -> None:
    gen = registry.make("meddiff:steps=20,sampler=ddim,eta=0.5,clip=false")
    assert gen.steps == 20 and gen.sampler == "ddim" and gen.eta == 0.5 and gen.clip is False
    assert "quick" in MedDiff.presets


# ---------------------------------------------------------------------------------- contract
def test_fit_sample_contract(fitted: MedDiff, toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    train = toy_data[0]
    assert fitted.mode_ == "classifier-free"  # guidance=auto on labelled data
    assert [h["epoch"] for h in fitted.history_] == list(range(1, TINY["epochs"] + 1))
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]
    X, y = fitted.sample(300)
    assert X.shape == (300, train.n_codes) and X.dtype == np.float32
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert y is not None and set(np.unique(y)) == {0, 1}  # drawn from the training prevalence
    assert abs(y.mean() - train.y.mean()) < 0.12
    assert fitted.diagnostics()["nfe"] >= 1
    # it learned the data: prevalences track the real ones
    r = np.corrcoef(X.mean(0), train.X.mean(0))[0, 1]
    assert r > 0.8


def test_same_seed_same_samples(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    cfg = {**TINY, "epochs": 3}
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = MedDiff(**cfg, random_state=7).fit(toy_data[0]).sample(50)
    assert torch.equal(torch.rand(1), before)  # the global torch RNG is left alone
    b = MedDiff(**cfg, random_state=7).fit(toy_data[0]).sample(50)
    c = MedDiff(**cfg, random_state=8).fit(toy_data[0]).sample(50)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_count_data_round_trip() -> None:
    counts = make_toy(n_records=300, kind="count", seed=1)
    gen = MedDiff(**{**TINY, "epochs": 20}, random_state=0).fit(counts)
    X, _ = gen.sample(100)
    assert (X >= 0).all() and np.array_equal(X, np.round(X))
    assert X.max() <= counts.X.max()
    # the transform inverts exactly on the training records
    np.testing.assert_array_equal(gen._decode(gen._encode(counts.X)), counts.X)


def test_guidance_none_returns_no_labels(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    gen = MedDiff(**{**TINY, "epochs": 2}, guidance="none", random_state=0).fit(toy_data[0])
    X, y = gen.sample(10, labels=np.ones(10, dtype=int))
    assert y is None and X.shape[0] == 10


# ---------------------------------------------------------------------------------- samplers
def _trained_eps(fitted: MedDiff, n: int = 64, seed: int = 3):
    """The solver tests compare trajectories to 1e-4: float32 (in bfloat16 a batched call of many
    timesteps and a call of one round differently, at bfloat16's resolution)."""
    labels = torch.as_tensor(np.arange(n) % 2)
    x_T = torch.randn((n, fitted.n_codes_), generator=torch.Generator().manual_seed(seed))
    return fitted.eps_fn(labels, precision="float32"), x_T


@pytest.mark.parametrize("eta", [0.0, 0.6])
def test_fixed_point_sampler_reproduces_ddim(fitted: MedDiff, eta: float) -> None:
    eps_fn, x_T = _trained_eps(fitted)
    sched = fitted.schedule_
    ddim = DDIM(sched, 25, eta=eta)
    ddim.keep_trajectory = True
    noise = ddim.draw_noise(x_T, torch.Generator().manual_seed(5))
    with torch.no_grad():
        x_seq = ddim(eps_fn, x_T, noise=noise)
        solver = ParaTAA(sched, 25, eta=eta, window=4, tol=1e-6, max_iter=60)
        x_par = solver(eps_fn, x_T, noise=noise)
    assert solver.converged
    assert ddim.trajectory is not None
    assert float((solver.trajectory - ddim.trajectory).abs().max()) < 1e-4
    assert float((x_par - x_seq).abs().max()) < 1e-4
    assert solver.nfe == solver.iterations <= 25
    assert solver.nfe_total >= solver.nfe


def test_fixed_point_sampler_is_exact_after_steps_iterations(fitted: MedDiff) -> None:
    """Even with a tolerance it can never meet, S iterations give the sequential answer."""
    eps_fn, x_T = _trained_eps(fitted)
    with torch.no_grad():
        x_seq = DDIM(fitted.schedule_, 8)(eps_fn, x_T)
        solver = ParaTAA(fitted.schedule_, 8, window=3, tol=1e-12, max_iter=8)
        x_par = solver(eps_fn, x_T)
    assert float((x_par - x_seq).abs().max()) < 1e-4
    assert solver.nfe == 8


def test_anderson_accelerates_the_fixed_point_iteration(fitted: MedDiff) -> None:
    eps_fn, x_T = _trained_eps(fitted)
    with torch.no_grad():
        picard = ParaTAA(fitted.schedule_, 40, window=1, tol=1e-3, max_iter=40)
        picard(eps_fn, x_T)
        anderson = ParaTAA(fitted.schedule_, 40, window=4, tol=1e-3, max_iter=40)
        anderson(eps_fn, x_T)
    assert anderson.converged and anderson.iterations < 40
    assert anderson.iterations <= picard.iterations


def test_sampler_nfe_and_agreement(fitted: MedDiff) -> None:
    eps_fn, x_T = _trained_eps(fitted)
    sched = fitted.schedule_
    with torch.no_grad():
        anc = Ancestral(sched, sched.T)
        x_anc = anc(eps_fn, x_T, torch.Generator().manual_seed(0))
        fine = DDIM(sched, sched.T)(eps_fn, x_T)
        dpm = DPMSolverPP2M(sched, 10)
        x_dpm = dpm(eps_fn, x_T)
    assert anc.nfe == sched.T and dpm.nfe == 10 and dpm.nfe_total == 10
    assert torch.isfinite(x_anc).all()
    # the 10-step ODE solver lands near the 100-step deterministic trajectory's end
    assert float(((x_dpm > 0) != (fine > 0)).float().mean()) < 0.1


def test_sampling_precision(fitted: MedDiff) -> None:
    """bfloat16 products while sampling change a handful of entries, never the distribution; the
    diagnostics say which precision ran; a bad value is refused by name."""
    from generators._torch import inference_dtype

    before = fitted.precision
    try:
        out = {}
        for precision in ("float32", "bfloat16"):
            fitted.precision = precision
            fitted.reseed(11)
            out[precision] = fitted.sample(400)
            assert fitted.diagnostics()["sample_bf16"] == float(precision == "bfloat16")
    finally:
        fitted.precision = before
    (a, ya), (b, yb) = out["float32"], out["bfloat16"]
    np.testing.assert_array_equal(ya, yb)  # the same labels: the same random stream
    assert (a != b).mean() < 0.005
    np.testing.assert_allclose(a.mean(axis=0), b.mean(axis=0), atol=0.02)
    labels = torch.as_tensor(np.arange(64) % 2)
    x = torch.randn((1, 64, fitted.n_codes_), generator=torch.Generator().manual_seed(2))
    t = torch.tensor([fitted.timesteps // 2])
    e32, e16 = (fitted.eps_fn(labels, precision=p)(x, t) for p in ("float32", "bfloat16"))
    assert e16.dtype == torch.float32  # the sampler's state stays float32
    gap = float((e16 - e32).abs().max() / e32.abs().max())
    assert 0 < gap < 0.02  # the products did run in bfloat16, at its resolution
    assert inference_dtype("auto", torch.device("cuda")) == torch.float32
    assert inference_dtype("float32", torch.device("cpu")) == torch.float32
    assert inference_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(OptionError, match="precision"):
        registry.make("meddiff:precision=half")


@pytest.mark.parametrize("autocast", [False, True])
def test_in_place_sampling_path_matches_the_training_path(fitted: MedDiff, autocast: bool) -> None:
    """Sampling (no autograd) takes the residual blocks' in-place path; it must compute the very
    numbers the out-of-place training path computes, in float32 and under a bfloat16 autocast,
    and leave its inputs untouched."""
    net = fitted.model_
    gen = torch.Generator().manual_seed(5)
    x = torch.randn((257, fitted.n_codes_), generator=gen)
    t = torch.randint(0, fitted.timesteps, (257,), generator=gen)
    y = torch.randint(0, 3, (257,), generator=gen)  # 2: the "no label" entry
    x_before = x.clone()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with torch.enable_grad():
            trained_path = net(x, t, y).detach()
        with torch.no_grad():
            sampling_path = net(x, t, y)
    assert torch.equal(x, x_before)
    assert sampling_path.dtype == trained_path.dtype == torch.float32
    assert torch.equal(sampling_path, trained_path)


def test_schedules() -> None:
    for kind in ("linear", "cosine"):
        s = make_schedule(kind, 1000)
        assert s.T == 1000 and bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())
        assert float(s.alpha_bar[-1]) < 1e-3 < float(s.alpha_bar[0])
        g = s.grid(20)
        assert len(g) == 20 and int(g[0]) == 999 and int(g[-1]) == 0


def test_grid_spacings_known_answers() -> None:
    """Every spacing runs from T - 1 down to 0 without repeats; quadratic crowds the steps at low
    noise (t = 999 u^2), logsnr spaces the half log-SNR evenly; an unknown spacing is refused
    where the sampler is made, naming the choices."""
    s = make_schedule("cosine", 1000)
    assert s.grid(10).tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert s.grid(10, "quadratic").tolist() == [999, 789, 604, 444, 308, 197, 111, 49, 12, 0]
    for spacing in ("uniform", "quadratic", "logsnr"):
        for steps in (2, 10, 50):
            g = s.grid(steps, spacing)
            assert int(g[0]) == 999 and int(g[-1]) == 0 and bool((g[1:] < g[:-1]).all())
    a = s.alpha_bar[s.grid(10, "logsnr")]
    lam = 0.5 * (a.log() - (1 - a).log())
    steps = (lam[1:] - lam[:-1])[1:-1]  # the ends are pinned to T - 1 and 0
    assert float(steps.max() / steps.min()) < 2.5  # evenly spread in log-SNR up to rounding of t
    assert len(DDIM(s, 100, spacing="quadratic").grid) == DDIM(s, 100, spacing="quadratic").steps < 100
    with pytest.raises(ValueError, match="uniform, quadratic, logsnr, tuned"):
        make_sampler("ddim", s, 10, spacing="even")


def test_the_tuned_grid_is_the_fixed_six_steps_and_interpolates_the_others() -> None:
    """``tuned``: at six steps exactly the grid found on validation (fractions of T - 1), at any
    other count strictly falling from T - 1 through the same curve, at every T."""
    assert make_schedule("cosine", 1000).grid(6, "tuned").tolist() == [999, 980, 700, 378, 72, 14]
    assert make_schedule("cosine", 200).grid(6, "tuned").tolist() == [199, 195, 139, 75, 14, 3]
    for T in (50, 200, 1000):
        s = make_schedule("cosine", T)
        for steps in (2, 5, 10, 20):
            g = s.grid(steps, "tuned")
            assert int(g[0]) == T - 1 and int(g[-1]) == round(0.014 * (T - 1)) and bool((g[1:] < g[:-1]).all())


@pytest.mark.parametrize("name", ["ddim", "dpmpp2m", "parataa", "ancestral"])
def test_every_sampler_through_the_generator(fitted: MedDiff, name: str) -> None:
    X, y = fitted.sample(40, labels=np.r_[np.zeros(20), np.ones(20)].astype(int), sampler=fitted.make_sampler(name, 6))
    assert X.shape == (40, fitted.n_codes_) and list(y) == [0] * 20 + [1] * 20
    assert fitted.diagnostics()["nfe"] <= 6


# ---------------------------------------------------------------------------------- conditioning
@pytest.mark.parametrize("which", ["fitted", "fitted_clf"])
def test_conditioning_moves_the_real_classifier(
    which: str, request: pytest.FixtureRequest, toy_data: tuple[EHRDataset, EHRDataset]
) -> None:
    gen: MedDiff = request.getfixturevalue(which)
    clf = _real_classifier(toy_data[0])
    n = 400
    gen.reseed(11)
    X_prior, _ = gen.sample(n)
    X1, y1 = gen.sample(n, labels=np.ones(n, dtype=int))
    X0, y0 = gen.sample(n, labels=np.zeros(n, dtype=int))
    assert (y1 == 1).all() and (y0 == 0).all()
    p_prior, p1, p0 = (clf.predict_proba(X)[:, 1].mean() for X in (X_prior, X1, X0))
    assert p1 > p_prior + 0.05
    assert p0 < p_prior


def test_training_is_the_same_at_two_threads() -> None:
    """Known answer for a bug: the conditioning rows were gathered by advanced indexing, whose
    backward on a CPU adds into the shared rows from several threads at once, so at two threads
    the gradient (and every update after it) changed from run to run (200 of 200 repeats of this
    block differed; MedDiff's weights ended 0.5 apart after its default schedule). Both the
    block's gradient under contention and a short fit must now repeat exactly."""
    from generators.meddiff.denoiser import ResidualBlock

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gen = torch.Generator().manual_seed(0)
        block = ResidualBlock(64)
        h = torch.randn(4096, 64, generator=gen)
        c = torch.randn(2, 64, generator=gen)  # two rows shared by 4,096 records: heavy contention
        index = torch.randint(0, 2, (4096,), generator=gen)

        def grads() -> list[torch.Tensor]:
            block.zero_grad(set_to_none=True)
            block(h, c, index).square().sum().backward()
            return [p.grad.clone() for p in block.parameters()]

        first = grads()
        for _ in range(20):
            assert all(torch.equal(a, b) for a, b in zip(first, grads(), strict=True))
        data = make_toy(n_records=400, seed=0).split(seed=0)[0]
        fits = [MedDiff(**TINY, max_updates=40, random_state=0).fit(data) for _ in range(2)]
        a, b = (f.model_.state_dict() for f in fits)
        assert all(torch.equal(a[k], b[k]) for k in a)
    finally:
        torch.set_num_threads(before)
