"""The building blocks of the EHR GANs: medGAN's autoencoder, shortcut generator and critic, and
EMR-WGAN's residual layer-norm block."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class LinearAutoencoder(nn.Module):
    """medGAN's autoencoder: one layer to the code and one back.

    Binary: tanh code, sigmoid output, trained with binary cross-entropy. Counts: ReLU code,
    ReLU output, trained with squared error (see :func:`generators.gans._losses.reconstruction_loss`).
    """

    def __init__(self, n_codes: int, embed_dim: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.encoder = nn.Sequential(nn.Linear(n_codes, embed_dim), nn.Tanh() if mode == "binary" else nn.ReLU())
        self.decoder = nn.Sequential(
            nn.Linear(embed_dim, n_codes), nn.Sigmoid() if mode == "binary" else nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ShortcutGenerator(nn.Module):
    """medGAN's generator: per layer ``h = act(BatchNorm(W h)) + h``.

    Hidden layers use ReLU. The last layer uses tanh in binary mode and ReLU in count mode, the
    range of the encoder's code that the decoder was pre-trained on. A layer whose width differs
    from its input has no shortcut (the published widths all equal the noise size, 128).
    Batch-norm momentum 0.01 is medGAN's decay of 0.99; medGAN's layers have no bias (batch
    norm's offset takes its place), CorGAN's have one (``bias=True``) and a batch-norm epsilon
    of 1e-3 (``eps``).
    """

    def __init__(
        self, in_dim: int, dims: tuple[int, ...], mode: str, bias: bool = False, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        prev = in_dim
        for d in dims:
            self.linears.append(nn.Linear(prev, d, bias=bias))
            self.norms.append(nn.BatchNorm1d(d, momentum=0.01, eps=eps))
            prev = d
        self.last_act: Callable[[torch.Tensor], torch.Tensor] = torch.tanh if mode == "binary" else torch.relu

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        last = len(self.linears) - 1
        for i, (lin, bn) in enumerate(zip(self.linears, self.norms, strict=True)):
            act = self.last_act if i == last else torch.relu
            out = act(bn(lin(h)))
            h = out + h if out.shape == h.shape else out
        return h


class MLPCritic(nn.Module):
    """A ReLU MLP to one score, optionally with minibatch averaging (medGAN).

    Minibatch averaging concatenates each record with the mean of its batch, so the critic can
    see that a batch lacks diversity, the cheap remedy for mode collapse proposed by medGAN.
    ``last_input`` keeps what the first layer saw, for tests. ``out_bias=False`` drops the
    output bias, which a Wasserstein loss cannot see (it cancels between real and generated).
    """

    def __init__(
        self, n_in: int, dims: tuple[int, ...], minibatch_averaging: bool = False, out_bias: bool = True
    ) -> None:
        super().__init__()
        self.minibatch_averaging = minibatch_averaging
        layers: list[nn.Module] = []
        prev = 2 * n_in if minibatch_averaging else n_in
        for d in dims:
            layers += [nn.Linear(prev, d), nn.ReLU()]
            prev = d
        layers.append(nn.Linear(prev, 1, bias=out_bias))
        self.net = nn.Sequential(*layers)
        self.keep_input = False
        self.last_input: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.minibatch_averaging:
            x = torch.cat([x, x.mean(dim=0, keepdim=True).expand_as(x)], dim=1)
        if self.keep_input:
            self.last_input = x.detach()
        return self.net(x).squeeze(-1)


class ResidualLNBlock(nn.Module):
    """``h + act(LayerNorm(W h))``: EMR-WGAN's building block for generator and critic."""

    def __init__(self, width: int, act: nn.Module) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.act = act

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.act(self.norm(self.linear(h)))
