"""Losses of the EHR GANs and their autoencoders, with the reductions of the published code."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor, mode: str) -> torch.Tensor:
    """medGAN's autoencoder loss, reduced as its public code reduces it.

    Binary: cross-entropy **summed over the features, averaged over the batch** (a mean over
    features too would shrink the reconstruction term by the number of columns, leaving the L2
    penalty hundreds of times stronger relative to it, and the autoencoder unable to keep rare
    codes). Counts: squared error averaged over all entries. CorGAN uses the same binary loss.
    """
    if mode == "binary":
        return F.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), x, reduction="none").sum(1).mean()
    return F.mse_loss(recon, x)


def l2_penalty(modules: Iterable[nn.Module], scale: float) -> torch.Tensor | float:
    """``scale * sum(w^2) / 2`` over every trainable parameter of ``modules``: TensorFlow's
    ``l2_regularizer(scale)`` attached to a variable scope, as medGAN's code attaches it to the
    autoencoder, generator and discriminator scopes (weights, biases and batch-norm scale and
    offset alike). Added to the loss, not decoupled weight decay."""
    if scale == 0:
        return 0.0
    seen: set[int] = set()
    total: torch.Tensor | float = 0.0
    for m in modules:
        for p in m.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                total = total + p.pow(2).sum()
    return 0.5 * float(scale) * total


def gan_d_loss(s_real: torch.Tensor, s_fake: torch.Tensor) -> torch.Tensor:
    """``-E log D(x) - E log(1 - D(G(z)))`` on logits (softplus keeps it finite)."""
    return F.softplus(-s_real).mean() + F.softplus(s_fake).mean()


def gan_g_loss(s_fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-E log D(G(z))`` of medGAN."""
    return F.softplus(-s_fake).mean()


def bgan_g_loss(s_fake: torch.Tensor) -> torch.Tensor:
    """Boundary seeking: ``0.5 E[(log D - log(1 - D))^2]``; that difference is the logit."""
    return 0.5 * (s_fake**2).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``E[(||grad_x critic(x_hat)||_2 - 1)^2]`` on random
    interpolates ``x_hat`` between real and generated records."""
    alpha = torch.rand(real.shape[0], 1, generator=gen).to(real.device)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()
