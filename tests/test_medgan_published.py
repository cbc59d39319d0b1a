"""medGAN as its public code runs it: the autoencoder's loss and L2, batch norm, the budget.

The reconstruction test is the one that separates the published loss from the old one: on
records made of co-occurring code blocks (240 columns, more than the 128-d code), the
autoencoder trained with cross-entropy summed over features reconstructs about 94 % of the
held-out records' present codes after 100 epochs; with the cross-entropy averaged over the
features (the L2 penalty then 240 times stronger relative to it) it reconstructs none, since
the shrunk weights leave every output near the codes' low prevalence.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from generators._torch import torch_generator
from generators.gans._losses import l2_penalty, reconstruction_loss
from generators.gans._records import never_generated, to_records
from generators.gans.medgan import MedBGAN, MedGAN, MedWGAN

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def code_blocks(n: int, n_blocks: int = 40, size: int = 6, seed: int = 0) -> EHRDataset:
    """Each record holds one to three whole blocks of ``size`` codes: present codes are fully
    predictable from the others, but each is rare (about 5 %)."""
    rng = np.random.default_rng(seed)
    d = n_blocks * size
    X = np.zeros((n, d), np.float32)
    for i in range(n):
        for b in rng.choice(n_blocks, size=1 + rng.integers(3), replace=False):
            X[i, b * size : (b + 1) * size] = 1
    cols = [f"c{j}" for j in range(d)]
    return EHRDataset(X=X, y=None, columns=cols, names=cols, kind="binary", name="code-blocks")


def test_autoencoder_reconstructs_held_out_present_codes() -> None:
    train, held_out = code_blocks(800, seed=0), code_blocks(300, seed=1)
    gen = MedGAN(ae_epochs=100, epochs=1, batch_size=200, random_state=0).fit(train)
    with torch.no_grad():
        recon = gen.autoencoder_(torch.as_tensor(held_out.X)).numpy()
    present = held_out.X > 0
    recall = float((recon[present] >= 0.5).mean())
    assert recall > 0.8, f"only {recall:.0%} of held-out present codes reconstructed"


def test_reconstruction_loss_sums_features_and_averages_records() -> None:
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    r = torch.full_like(x, 0.25)
    per_entry = -(x * np.log(0.25) + (1 - x) * np.log(0.75))
    assert reconstruction_loss(r, x, "binary").item() == pytest.approx(float(per_entry.sum(1).mean()), rel=1e-5)
    assert reconstruction_loss(r, x, "count").item() == pytest.approx(float(((r - x) ** 2).mean()))


def test_l2_is_half_the_scaled_squared_norm_of_every_parameter() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    expected = 0.5 * 1e-3 * sum(float((p**2).sum()) for p in net.parameters())
    assert float(l2_penalty([net], 1e-3)) == pytest.approx(expected)
    assert l2_penalty([net], 0.0) == 0.0


def test_l2_enters_the_losses_not_the_optimisers() -> None:
    gen = MedGAN(ae_epochs=1, epochs=1, batch_size=64, embed_dim=8, gen_dims=(8, 8, 8), disc_dims=(8,), random_state=0)
    gen.fit(code_blocks(64, n_blocks=4, size=3))
    assert gen.l2_loss_ == pytest.approx(1e-3)
    for opt in (gen.opt_g_, gen.opt_d_):
        assert all(group["weight_decay"] == 0 for group in opt.param_groups)


def test_published_generator_has_three_shortcut_layers() -> None:
    assert MedGAN().gen_dims == (128, 128, 128)
    assert MedWGAN().gen_dims == (128, 128, 128) and MedBGAN().gen_dims == (128, 128, 128)


def test_critic_trains_on_inference_mode_batch_norm_and_sampling_follows_a_burn_in() -> None:
    data = code_blocks(128, n_blocks=4, size=3)
    modes: list[bool] = []

    class Spy(MedGAN):
        in_critic = False

        def _critic_update(self, *args, **kw):  # type: ignore[no-untyped-def]
            self.in_critic = True
            try:
                return super()._critic_update(*args, **kw)
            finally:
                self.in_critic = False

        def _generate(self, z, y):  # type: ignore[no-untyped-def]
            if self.in_critic:
                modes.append(self.generator_.training)
            return super()._generate(z, y)

    small = {"ae_epochs": 1, "epochs": 2, "batch_size": 64, "embed_dim": 8, "gen_dims": (8, 8, 8), "disc_dims": (8,)}
    gen = Spy(**small, random_state=0).fit(data)
    assert modes and not any(modes), "the critic saw samples drawn with batch norm in training mode"
    assert not gen.generator_.training

    class NoBurnIn(MedGAN):
        bn_burn_in = 0

    plain = NoBurnIn(**small, random_state=0).fit(data)
    bn, bn0 = gen.generator_[0].norms[0], plain.generator_[0].norms[0]
    assert not torch.allclose(bn.running_mean, bn0.running_mean), "burn-in left the statistics unchanged"
    # 1,000 batches at momentum 0.01 forget the training-time statistics almost entirely
    assert MedGAN.bn_burn_in == 1000 and MedGAN.bn_burn_in_batch == 100


# ------------------------------------------------------------------ binarisation
def test_rounding_never_emits_a_rare_code_and_bernoulli_draws_emit_it_at_its_rate() -> None:
    """The known answer behind ``binarize``: a code the decoder gives probability 0.02 in every
    record is never generated when rounded, and occurs in about 2 % of records when drawn."""
    n = 20_000
    raw = np.tile(np.array([0.02, 0.3, 0.7, 0.98], np.float32), (n, 1))
    rounded = to_records(raw, "binary", "binary")
    np.testing.assert_array_equal(rounded.mean(0), [0, 0, 1, 1])
    drawn = to_records(raw, "binary", "binary", draw=torch_generator(0))
    assert set(np.unique(drawn)) == {0.0, 1.0}
    se = np.sqrt(raw[0] * (1 - raw[0]) / n)
    assert np.all(np.abs(drawn.mean(0) - raw[0]) < 4 * se), drawn.mean(0)
    present = np.ones(4, bool)
    assert never_generated(rounded, present)[1] == 2 and never_generated(drawn, present)[1] == 0
    np.testing.assert_array_equal(drawn, to_records(raw, "binary", "binary", draw=torch_generator(0)))
    assert not np.array_equal(drawn, to_records(raw, "binary", "binary", draw=torch_generator(1)))


def test_bernoulli_sampling_draws_from_the_decoders_probabilities_with_the_sampling_seed() -> None:
    data = code_blocks(256, n_blocks=4, size=3)
    small = {"ae_epochs": 2, "epochs": 2, "batch_size": 64, "embed_dim": 8, "gen_dims": (8, 8, 8), "disc_dims": (8,)}
    drawn = MedGAN(**small, binarize="bernoulli", random_state=0).fit(data)
    X, _ = drawn.sample(4000)
    assert set(np.unique(X)) <= {0.0, 1.0}
    again = MedGAN(**small, binarize="bernoulli", random_state=0).fit(data)
    np.testing.assert_array_equal(X, again.sample(4000)[0])
    # the same trained model, rounded: training does not depend on the binarisation
    rounded = MedGAN(**small, random_state=0).fit(data).sample(4000)[0]
    probs = MedGAN(**small, random_state=0).fit(data)._raw_sample(4000, None)
    np.testing.assert_array_equal(rounded, (probs >= 0.5).astype(np.float32))
    assert not np.array_equal(X, rounded)
    se = np.sqrt(probs.mean(0) * (1 - probs.mean(0)) / 4000) + 1e-3
    assert np.all(np.abs(X.mean(0) - probs.mean(0)) < 5 * se), (X.mean(0), probs.mean(0))
