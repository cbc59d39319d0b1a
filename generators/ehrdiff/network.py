"""EHRDiff's networks: the raw MLP ``F`` and the EDM-preconditioned denoiser ``D`` built on it.

``F(x_in, c_noise, y)`` knows nothing of noise levels beyond the scalar it is handed;
``EDMDenoiser`` turns it into ``D(x, sigma, y)``, the estimate of the clean record, with the
preconditioning of Karras et al. (2022). Neither knows how it is sampled (see ``sampler.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_features(c: torch.Tensor, dim: int) -> torch.Tensor:
    """``dim`` sine/cosine features of the scalar noise input ``c`` (shape ``(n,)``), frequencies
    spaced geometrically from 1 down to 1/10000 as in the Transformer; an odd ``dim`` gets one
    zero feature so any data width works."""
    half = max(1, dim // 2)
    scale = math.log(10000.0) / max(1, half - 1)
    freqs = torch.exp(-scale * torch.arange(half, dtype=torch.float32, device=c.device))
    arg = c.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([arg.sin(), arg.cos()], dim=1)
    if emb.shape[1] < dim:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], dim - emb.shape[1])], dim=1)
    return emb[:, :dim]


class _Block(nn.Module):
    """``Linear(ReLU(h + P e))``: the noise (and label) embedding ``e`` is projected to the block's
    input width and added before the activation, so every layer sees the noise level."""

    def __init__(self, dim_in: int, dim_out: int, emb_dim: int) -> None:
        super().__init__()
        self.emb = nn.Linear(emb_dim, dim_in)
        self.fc = nn.Linear(dim_in, dim_out)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(h + self.emb(e)))


class EHRDiffMLP(nn.Module):
    """The raw network ``F``: ``d -> unit_dims[0] -> ... -> unit_dims[-1] -> d``, ReLU, no output
    activation (EHRDiff's public code: ``(1024, 384, 384, 384, 1024)``).

    Noise embedding: ``n_features`` sinusoidal features of ``c_noise`` (the public code uses the
    data width for them), then ``Linear -> SiLU -> Linear`` to ``time_dim`` (384). With
    ``n_classes > 0`` a label embedding (``n_classes + 1`` entries, the last meaning "no label",
    width ``class_dim``) through its own ``Linear -> SiLU -> Linear`` is added to it.
    """

    def __init__(
        self,
        n_features: int,
        unit_dims: tuple[int, ...] = (1024, 384, 384, 384, 1024),
        time_dim: int = 384,
        n_classes: int = 0,
        class_dim: int = 128,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_classes = n_classes
        self.time = nn.Sequential(nn.Linear(n_features, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.label = (
            nn.Sequential(
                nn.Embedding(n_classes + 1, class_dim), nn.Linear(class_dim, time_dim), nn.SiLU(),
                nn.Linear(time_dim, time_dim),
            )
            if n_classes > 0
            else None
        )
        widths = [n_features, *unit_dims, n_features]
        self.blocks = nn.ModuleList(_Block(a, b, time_dim) for a, b in zip(widths[:-1], widths[1:], strict=True))

    @property
    def null_label(self) -> int:
        return self.n_classes

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        e = self.time(sinusoidal_features(c_noise, self.n_features))
        if self.label is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.null_label, dtype=torch.long, device=x.device)
            e = e + self.label(y)
        h = x
        for block in self.blocks:
            h = block(h, e)
        return h


class EDMDenoiser(nn.Module):
    """``D(x, sigma, y) = c_skip x + c_out F(c_in x, c_noise, y)`` (Karras et al. 2022, Table 1):
    ``c_skip = sd^2 / (sigma^2 + sd^2)``, ``c_out = sigma sd / sqrt(sigma^2 + sd^2)``,
    ``c_in = 1 / sqrt(sigma^2 + sd^2)``, ``c_noise = ln(sigma) / 4``, with ``sd = sigma_data``.

    The network input and target then have unit variance at every noise level, which is why one
    learning rate works from ``sigma = 0.02`` to ``80``. ``sigma`` has one entry per record.
    """

    def __init__(self, net: EHRDiffMLP, sigma_data: float) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    @property
    def null_label(self) -> int:
        return self.net.null_label

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = x.to(torch.float32)
        s = sigma.to(torch.float32).reshape(-1, 1)
        sd2 = self.sigma_data**2
        c_skip = sd2 / (s**2 + sd2)
        c_out = s * self.sigma_data / (s**2 + sd2).sqrt()
        c_in = 1.0 / (s**2 + sd2).sqrt()
        c_noise = 0.25 * s.log().reshape(-1)
        return c_skip * x + c_out * self.net(c_in * x, c_noise, y)

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """EDM's ``lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2``: the effective target of ``F``
        then has unit weight at every noise level."""
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2
