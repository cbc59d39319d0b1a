"""medGAN and the EHR GAN family, and the ctgan/tvae adapters: contract, losses, privacy, errors.

Everything trains on a tiny simulated dataset for one or two epochs with small networks, so the
file runs in seconds; quality on real data is measured outside the test suite.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.conditioning import fit_generator, sample_generator
from bench.core.data import EHRDataset
from bench.core.errors import OptionError, TrainingDiverged
from bench.datasets.toy import make_toy
from generators import registry
from generators.gans._losses import gradient_penalty
from generators.gans._networks import MLPCritic
from generators.gans._records import never_generated, to_records
from generators.gans.dpgan import DPGAN, dp_epsilon

# small networks and schedules: every generator in a fraction of a second
TINY = {
    "medgan": "medgan:ae_epochs=2,epochs=2,batch_size=64,ae_batch_size=32,embed_dim=16,gen_dims=16-16,disc_dims=32-16",
    "medwgan": "medwgan:ae_epochs=2,epochs=2,batch_size=64,ae_batch_size=32,embed_dim=16,gen_dims=16-16,disc_dims=32-16",
    "medbgan": "medbgan:ae_epochs=2,epochs=2,batch_size=64,ae_batch_size=32,embed_dim=16,gen_dims=16-16,disc_dims=32-16",
    "emrwgan": "emrwgan:epochs=2,batch_size=64,d_steps=2,noise_dim=16,width=32,n_layers=3",
    "corgan": "corgan:ae_epochs=2,epochs=2,batch_size=64,ae_batch_size=32,d_steps=2,embed_dim=16,gen_dims=16-16,disc_dims=32-32",
    "dpgan": "dpgan:epochs=1,batch_size=32,d_steps=2,noise_dim=16,gen_dims=16-16,disc_dims=32-16",
    "ctgan": "ctgan:epochs=1,batch_size=40,embedding_dim=16,generator_dim=32,discriminator_dim=32",
    "tvae": "tvae:epochs=1,batch_size=40,embedding_dim=16,compress_dims=32,decompress_dims=32",
}
COUNT_CAPABLE = ["medgan", "medwgan", "medbgan", "dpgan", "ctgan", "tvae"]
BINARY_ONLY = ["emrwgan", "corgan"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def tiny() -> EHRDataset:
    return make_toy(n_records=160, n_codes=12, seed=1)


@pytest.fixture(scope="module")
def tiny_count() -> EHRDataset:
    return make_toy(n_records=160, n_codes=12, seed=2, kind="count")


def _fit(spec: str, data: EHRDataset, seed: int = 0):
    gen = registry.make(spec, random_state=seed)
    fit_generator(gen, data)
    return gen


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("name", list(TINY))
def test_trains_and_samples_binary_records(name: str, tiny: EHRDataset) -> None:
    gen = _fit(TINY[name], tiny)
    X, y = sample_generator(gen, 50, tiny)
    assert X.shape == (50, tiny.n_codes) and X.dtype == np.float32
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert y is not None and y.shape == (50,) and set(np.unique(y)) <= {0, 1}
    assert gen.supports_conditioning is False  # the harness appended the label as a column
    diag = gen.diagnostics()
    if name == "dpgan":  # which codes occur in training is not DPGAN's to report
        assert "never_generated_frac" not in diag
    else:
        assert 0.0 <= diag["never_generated_frac"] <= 1.0
    assert diag["schedule_fraction"] > 0.0 and diag["updates"] > 0
    assert gen.training_history(), "per-epoch losses are recorded"


@pytest.mark.parametrize("name", COUNT_CAPABLE)
def test_count_mode_gives_non_negative_integers(name: str, tiny_count: EHRDataset) -> None:
    gen = _fit(TINY[name], tiny_count)
    X, _ = sample_generator(gen, 40, tiny_count)
    assert X.shape == (40, tiny_count.n_codes)
    assert (X >= 0).all() and (np.round(X) == X).all()
    if name != "tvae":  # TVAE's one epoch may not reach a count above one: that is fine
        assert X.max() >= 1


@pytest.mark.parametrize("name", BINARY_ONLY)
def test_binary_only_models_refuse_counts(name: str, tiny_count: EHRDataset) -> None:
    gen = registry.make(TINY[name], random_state=0)
    with pytest.raises(OptionError, match="binary"):
        gen.fit(tiny_count)


def test_binary_mode_on_count_data_is_an_error(tiny_count: EHRDataset) -> None:
    gen = registry.make(TINY["medgan"] + ",mode=binary", random_state=0)
    with pytest.raises(OptionError, match="mode='binary'"):
        gen.fit(tiny_count)


def test_bernoulli_records_need_binary_mode(tiny: EHRDataset) -> None:
    gen = registry.make(TINY["medwgan"] + ",mode=count,binarize=bernoulli", random_state=0)
    with pytest.raises(OptionError, match="binarize='bernoulli'.*needs binary mode"):
        gen.fit(tiny)


def test_count_mode_on_binary_data_stays_binary(tiny: EHRDataset) -> None:
    gen = _fit(TINY["medgan"] + ",mode=count", tiny)
    X, _ = sample_generator(gen, 40, tiny)
    assert set(np.unique(X)) <= {0.0, 1.0}


def test_same_seed_same_records_other_seed_other_records(tiny: EHRDataset) -> None:
    a = sample_generator(_fit(TINY["medgan"], tiny, seed=3), 60, tiny)[0]
    torch.manual_seed(12345)  # global RNG state must not matter
    b = sample_generator(_fit(TINY["medgan"], tiny, seed=3), 60, tiny)[0]
    c = sample_generator(_fit(TINY["medgan"], tiny, seed=4), 60, tiny)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_history_has_pretraining_and_adversarial_rows(tiny: EHRDataset) -> None:
    gen = _fit(TINY["medgan"].replace("ae_epochs=2", "ae_epochs=3"), tiny)
    rows = gen.training_history()
    pre = [r for r in rows if r["phase"] == "pretrain"]
    adv = [r for r in rows if r["phase"] == "gan"]
    assert [r["epoch"] for r in pre] == [1, 2, 3] and [r["epoch"] for r in adv] == [1, 2]
    assert all(np.isfinite(r["loss_ae"]) for r in pre)
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in adv)


def test_sample_before_fit_is_an_error() -> None:
    from bench.core.errors import GeneratorError

    with pytest.raises(GeneratorError, match="fit"):
        registry.make("medgan", random_state=0).sample(5)


# ------------------------------------------------------------------ medGAN's discriminator
def test_minibatch_averaging_shows_the_batch_mean() -> None:
    torch.manual_seed(0)
    critic = MLPCritic(5, (8,), minibatch_averaging=True)
    critic.keep_input = True
    x = torch.rand(6, 5)
    s = critic(x)
    seen = critic.last_input
    assert seen is not None and seen.shape == (6, 10)
    torch.testing.assert_close(seen[:, 5:], x.mean(0, keepdim=True).expand(6, 5))
    # the score of record 0 depends on the other records of its batch
    x2 = x.clone()
    x2[1:] = 1.0 - x2[1:]
    assert not torch.allclose(critic(x2)[0], s[0])


def test_fitted_medgan_discriminator_uses_minibatch_averaging(tiny: EHRDataset) -> None:
    gen = _fit(TINY["medgan"], tiny)
    d = tiny.n_codes + 1  # the label column the harness appended
    assert gen.critic_.minibatch_averaging
    assert gen.critic_.net[0].in_features == 2 * d


# ------------------------------------------------------------------ WGAN-GP
def test_gradient_penalty_is_finite_and_positive() -> None:
    torch.manual_seed(0)
    critic = MLPCritic(7, (16, 8))
    real = (torch.rand(32, 7) < 0.3).float()
    fake = torch.rand(32, 7)
    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert torch.isfinite(gp) and gp.item() > 0
    gp.backward()  # differentiable w.r.t. the critic's weights, as training needs
    assert critic.net[0].weight.grad is not None


def test_medwgan_logs_a_finite_positive_penalty(tiny: EHRDataset) -> None:
    gen = _fit(TINY["medwgan"], tiny)
    gps = [r["gp"] for r in gen.training_history() if r["phase"] == "gan"]
    assert gps and all(np.isfinite(g) and g > 0 for g in gps)


# ------------------------------------------------------------------ DPGAN
def _dpgan(tiny: EHRDataset, epochs: int, noise: float) -> float:
    gen = _fit(TINY["dpgan"].replace("epochs=1", f"epochs={epochs}") + f",noise_multiplier={noise}", tiny)
    diag = gen.diagnostics()
    assert diag["delta"] == 1e-5
    return diag["epsilon"]


def test_dpgan_epsilon_grows_with_epochs_and_falls_with_noise(tiny: EHRDataset) -> None:
    e1, e3 = _dpgan(tiny, 1, 1.0), _dpgan(tiny, 3, 1.0)
    e3_noisy = _dpgan(tiny, 3, 4.0)
    assert 0 < e1 < e3
    assert e3_noisy < e3


def test_dpgan_epsilon_is_the_accountants_for_the_steps_taken(tiny: EHRDataset) -> None:
    gen = _fit(TINY["dpgan"].replace("epochs=1", "epochs=2"), tiny)
    n = tiny.n_records
    assert gen.dp_steps_ == 2 * int(np.ceil(n / 32)) * 2
    expected = DPGAN.planned_epsilon(n, epochs=2, batch_size=32, d_steps=2, noise_multiplier=2.0, delta=1e-5)
    assert gen.diagnostics()["epsilon"] == pytest.approx(expected)
    eps = [r["epsilon"] for r in gen.training_history()]
    assert eps == sorted(eps) and eps[0] < eps[-1]


def test_dp_epsilon_matches_opacus_directly() -> None:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    for _ in range(50):
        acc.step(noise_multiplier=1.3, sample_rate=0.05)
    assert dp_epsilon(1.3, 0.05, 50, 1e-5) == pytest.approx(acc.get_epsilon(delta=1e-5))
    assert dp_epsilon(1.3, 0.05, 0, 1e-5) == 0.0


# ------------------------------------------------------------------ EMR-WGAN's conditional variant
def test_emrwgan_conditional_variant_honours_labels(tiny: EHRDataset) -> None:
    gen = registry.make(TINY["emrwgan"] + ",conditional=true", random_state=0)
    assert gen.supports_conditioning is True
    assert registry.make(TINY["emrwgan"], random_state=0).supports_conditioning is False
    fit_generator(gen, tiny)
    assert gen.n_classes_ == 2
    labels = np.array([0, 1] * 20)
    X, y = sample_generator(gen, 40, tiny, labels)
    assert X.shape == (40, tiny.n_codes)  # no label column: it conditioned on the label
    np.testing.assert_array_equal(y, labels)
    _, y_drawn = gen.sample(200)
    assert y_drawn is not None and set(np.unique(y_drawn)) <= {0, 1}


# ------------------------------------------------------------------ failure made visible
def test_non_finite_loss_raises_training_diverged(tiny: EHRDataset) -> None:
    gen = registry.make(TINY["medgan"], random_state=0)
    gen._generator_loss = lambda s: s.mean() * float("nan")  # type: ignore[method-assign]
    with pytest.raises(TrainingDiverged, match="non-finite loss at epoch 1"):
        gen.fit(tiny)


def test_never_generated_fraction() -> None:
    present = np.array([True, True, True, False])
    X = np.array([[1, 0, 0, 0], [1, 0, 2, 0]], dtype=np.float32)
    frac, count = never_generated(X, present)
    assert count == 1 and frac == pytest.approx(1 / 3)


def test_diagnostics_report_mode_collapse_of_the_last_sample(tiny: EHRDataset) -> None:
    gen = _fit(TINY["medgan"], tiny)
    X, _ = gen.sample(30)
    frac, _ = never_generated(X, tiny.with_label_as_column().X.any(axis=0))
    assert gen.diagnostics()["never_generated_frac"] == pytest.approx(frac)


def test_to_records_rounds_by_mode() -> None:
    raw = np.array([[0.49, 0.5, 2.6, -0.3]])
    np.testing.assert_array_equal(to_records(raw, "binary", "binary"), [[0, 1, 1, 0]])
    np.testing.assert_array_equal(to_records(raw, "count", "count"), [[0, 0, 3, 0]])
    np.testing.assert_array_equal(to_records(raw, "count", "binary"), [[0, 0, 1, 0]])


# ------------------------------------------------------------------ options
@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("medgan:mode=ternary", "mode='ternary'"),
        ("medwgan:mode=ternary", "mode='ternary'"),
        ("dpgan:mode=ternary", "mode='ternary'"),
        ("medgan:epochs=0", "'epochs' must be a positive integer"),
        ("medbgan:batch_size=-5", "'batch_size' must be a positive integer"),
        ("emrwgan:epochs=-1", "'epochs' must be a positive integer"),
        ("corgan:batch_size=0", "'batch_size' must be a positive integer"),
        ("dpgan:epochs=0", "'epochs' must be a positive integer"),
        ("ctgan:epochs=0", "'epochs' must be a positive integer"),
        ("tvae:batch_size=0", "'batch_size' must be a positive integer"),
        ("medgan:lr=0", "'lr' must be a positive number"),
        ("medgan:gen_dims=64-64", "must equal embed_dim"),
        ("medgan:disc_dims=0-4", "layer widths"),
        ("dpgan:noise_multiplier=0", "'noise_multiplier' must be a positive number"),
        ("dpgan:delta=2", "'delta' must be in"),
        ("ctgan:batch_size=55", "multiple of pac"),
        ("medgan:epochs=ten", "option epochs=.ten. is not an integer"),
        ("medgan:device=tpu", "device must be"),
        ("medgan:binarize=threshold", "binarize='threshold' is not one of round, bernoulli"),
        ("medbgan:binarize=0.5", "binarize='0.5' is not one of"),
    ],
)
def test_bad_options_are_clear_errors(spec: str, match: str) -> None:
    with pytest.raises(OptionError, match=match):
        registry.make(spec, random_state=0)


def test_presets_are_documented_and_valid() -> None:
    for name in TINY:
        cls = registry.get_class(name)
        assert {"cpu", "quick"} <= set(cls.presets), name
        for preset in ("cpu", "quick"):
            assert set(cls.presets[preset]) <= set(cls.param_defaults()), (name, preset)
            registry.make(name, random_state=0, preset=preset)  # validates
        assert "quick" in (cls.__doc__ or "") and "cpu" in (cls.__doc__ or ""), name


# ------------------------------------------------------------------ ctgan / tvae adapters
@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_vectorised_decoding_equals_the_packages(name: str, tiny: EHRDataset) -> None:
    gen = _fit(TINY[name], tiny)
    assert gen.fast_inverse_
    model = gen.model_
    transformer = model._transformer if name == "ctgan" else model.transformer
    rng = np.random.default_rng(0)
    data = rng.random((300, transformer.output_dimensions))
    fast = np.asarray(transformer.inverse_transform(data))
    del transformer._inverse_transform_discrete  # back to the package's own method
    slow = np.asarray(transformer.inverse_transform(data))
    np.testing.assert_array_equal(fast, slow)


def test_count_columns_with_many_values_are_continuous(tiny_count: EHRDataset) -> None:
    gen = _fit(TINY["tvae"] + ",max_discrete=2", tiny_count)
    n_few = sum(np.unique(tiny_count.X[:, j]).size <= 2 for j in range(tiny_count.n_codes))
    assert gen.diagnostics()["discrete_columns"] == n_few + 1  # + the label column
    assert n_few < tiny_count.n_codes
