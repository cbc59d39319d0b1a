"""CorGAN (Torfi & Fox 2020): a 1-D convolutional autoencoder under a weight-clipped WGAN."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.errors import OptionError
from generators.gans._common import (
    AdversarialGenerator,
    MLPCritic,
    ShortcutGenerator,
    check_dims,
    check_non_negative,
    param_groups,
    pretrain_autoencoder,
    validate_common,
)

_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"ae_epochs": 100, "epochs": 130},
    "quick": {"ae_epochs": 2, "epochs": 2, "d_steps": 2},
}

_DOWNSAMPLINGS = 3  # three stride-2 convolutions before the one that collapses the length


class ConvAutoencoder(nn.Module):
    """Records as 1-channel sequences: convolutions capture codes that sit near each other.

    Encoder: the record, zero-padded to a multiple of 8, goes through three stride-2 convolutions
    (16, 32, 64 channels) and one whose kernel spans the remaining length, giving a code of
    ``embed_dim`` channels x length 1 (tanh). The decoder mirrors it with transposed
    convolutions, ends in a sigmoid and crops the padding.
    """

    def __init__(self, n_codes: int, embed_dim: int) -> None:
        super().__init__()
        step = 2**_DOWNSAMPLINGS
        self.n_codes = n_codes
        self.padded = step * math.ceil(n_codes / step)
        short = self.padded // step
        self.embed_dim = embed_dim
        self.encoder = nn.Sequential(
            nn.Conv1d(1, 16, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv1d(16, 32, 4, 2, 1), nn.BatchNorm1d(32), nn.LeakyReLU(0.2),
            nn.Conv1d(32, 64, 4, 2, 1), nn.BatchNorm1d(64), nn.LeakyReLU(0.2),
            nn.Conv1d(64, embed_dim, short), nn.Tanh(),
        )
        self.decoder = _ConvDecoder(n_codes, embed_dim, short)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (0, self.padded - self.n_codes)).unsqueeze(1)
        return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))


class _ConvDecoder(nn.Module):
    """Code (``embed_dim``) -> probabilities per code, the mirror of the encoder."""

    def __init__(self, n_codes: int, embed_dim: int, short: int) -> None:
        super().__init__()
        self.n_codes = n_codes
        self.net = nn.Sequential(
            nn.ConvTranspose1d(embed_dim, 64, short), nn.BatchNorm1d(64), nn.ReLU(),
            nn.ConvTranspose1d(64, 32, 4, 2, 1), nn.BatchNorm1d(32), nn.ReLU(),
            nn.ConvTranspose1d(32, 16, 4, 2, 1), nn.BatchNorm1d(16), nn.ReLU(),
            nn.ConvTranspose1d(16, 1, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code.unsqueeze(-1)).squeeze(1)[:, : self.n_codes]


class CorGAN(AdversarialGenerator):
    """CorGAN: medGAN's recipe with a convolutional autoencoder and a Wasserstein critic.

    Torfi, Fox. *CorGAN: Correlation-Capturing Convolutional Generative Adversarial Networks
    for Generating Synthetic Healthcare Records.* FLAIRS 2020 (arXiv:2001.09346).

    Published (kept as defaults): a 1-D convolutional autoencoder whose code is ``embed_dim=128``
    channels x length 1 (:class:`ConvAutoencoder`), pre-trained with binary cross-entropy; a
    generator of two residual linear layers of width 128 (``gen_dims``, medGAN's shortcut
    layers) feeding the decoder; a critic MLP ``disc_dims=(256, 256, 256)`` to one score;
    WGAN with weight clipping ``clip_value=0.01`` and ``d_steps=5`` critic updates per generator
    update; Adam ``lr=1e-3``; samples thresholded at 0.5. Binary data only.

    Chosen here (unverified): ``ae_epochs=100``, ``epochs=1000``, ``batch_size=512``,
    ``ae_batch_size=100``, ``l2=0``; the decoder is fine-tuned during adversarial training as
    in medGAN; the channel widths 16-32-64 of the convolutional stack.

    Presets: on eunomia on 2 idle CPU cores an autoencoder epoch costs about 0.35 s and an
    adversarial epoch (five batches of 512, five critic updates each) about 0.85 s, so the
    default schedule takes about 15 minutes; ``cpu`` keeps the 100 autoencoder epochs and
    runs 130 adversarial ones to fit a 3-minute budget; ``quick`` (2 + 2 epochs, 2 critic updates) is for
    smoke runs and CI, not for results. Sampling runs batch norm in
    eval mode with statistics re-estimated after training.
    """

    name = "corgan"
    loss: ClassVar[str] = "wgan-clip"
    supported_kinds: ClassVar[tuple[str, ...]] = ("binary",)
    presets: ClassVar[dict[str, dict[str, Any]]] = _PRESETS
    reference = "Torfi & Fox, FLAIRS 2020 (arXiv:2001.09346)"

    def __init__(
        self,
        ae_epochs: int = 100,
        epochs: int = 1000,
        batch_size: int = 512,
        ae_batch_size: int = 100,
        lr: float = 1e-3,
        l2: float = 0.0,
        d_steps: int = 5,
        clip_value: float = 0.01,
        embed_dim: int = 128,
        gen_dims: tuple[int, ...] = (128, 128),
        disc_dims: tuple[int, ...] = (256, 256, 256),
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.ae_epochs = ae_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.ae_batch_size = ae_batch_size
        self.lr = lr
        self.l2 = l2
        self.d_steps = d_steps
        self.clip_value = clip_value
        self.embed_dim = embed_dim
        self.gen_dims = gen_dims
        self.disc_dims = disc_dims
        self.device = device
        self.random_state = random_state

    def validate_params(self) -> None:
        validate_common(
            self,
            ("ae_epochs", "epochs", "batch_size", "ae_batch_size", "d_steps", "embed_dim"),
            ("lr", "clip_value"),
        )
        check_non_negative(self, "l2")
        check_dims(self, "gen_dims", "disc_dims")
        if self.gen_dims[-1] != self.embed_dim:
            raise OptionError(
                f"generator {self.name!r}: the last of gen_dims ({self.gen_dims[-1]}) must equal "
                f"embed_dim ({self.embed_dim}), since the generator's output goes through the decoder"
            )

    def _build(self, n_codes: int) -> None:
        self.noise_dim_ = self.embed_dim
        self.autoencoder_ = ConvAutoencoder(n_codes, self.embed_dim).to(self.device_)
        shortcut = ShortcutGenerator(self.embed_dim, tuple(self.gen_dims), "binary")
        self.generator_ = nn.Sequential(shortcut, self.autoencoder_.decoder).to(self.device_)
        self.critic_ = MLPCritic(n_codes, tuple(self.disc_dims)).to(self.device_)
        self.opt_g_ = torch.optim.Adam(param_groups([self.generator_], self.l2), lr=self.lr)
        self.opt_d_ = torch.optim.Adam(param_groups([self.critic_], self.l2), lr=self.lr)

    def _pretrain(self, X: torch.Tensor) -> None:
        pretrain_autoencoder(self, self.autoencoder_, X, self.ae_epochs, self.ae_batch_size, self.lr, self.l2)
