"""Differential-privacy plumbing for DPGAN: the accountant, and randomness fit for a release.

A benchmark run must be reproducible, so DPGAN's noise and Poisson sampling then come from a
torch generator seeded from the job seed; since the seed is published, the epsilon of such a
run is *nominal*. A release needs noise nobody can replay: :func:`secure_uniform` and
:func:`secure_normal` draw from the operating system's CSPRNG (``os.urandom``), and the
Gaussian follows opacus' ``secure_mode`` defence against floating-point attacks (the sum of
four draws, halved; Holohan & Braghin 2021). opacus itself takes secure randomness from the
``torchcsprng`` package, which has no build for this torch, hence this module.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

_TWO53 = float(2**53)


def secure_uniform(k: int) -> np.ndarray:
    """``k`` uniforms in [0, 1) with 53 random bits each, from ``os.urandom``."""
    bits = np.frombuffer(os.urandom(8 * k), dtype=np.uint64) >> np.uint64(11)
    return bits.astype(np.float64) / _TWO53


def _secure_standard_normal(k: int) -> np.ndarray:
    """Box-Muller on CSPRNG uniforms."""
    m = (k + 1) // 2
    u = secure_uniform(2 * m)
    r = np.sqrt(-2.0 * np.log1p(-u[:m]))  # 1 - u in (0, 1]: log is finite
    theta = 2.0 * math.pi * u[m:]
    return np.concatenate([r * np.cos(theta), r * np.sin(theta)])[:k]


def secure_normal(shape: torch.Size | tuple[int, ...], std: float, like: torch.Tensor) -> torch.Tensor:
    """Gaussian noise of standard deviation ``std``: four CSPRNG draws summed and halved."""
    k = int(np.prod(shape)) if len(shape) else 1
    z = sum(_secure_standard_normal(k) for _ in range(4)) / 2.0
    return torch.as_tensor(z * std, dtype=like.dtype).reshape(shape).to(like.device)


def dp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Epsilon spent by ``steps`` Poisson-subsampled Gaussian mechanisms, from opacus' RDP
    accountant (Mironov 2017; Mironov, Talwar, Zhang 2019), not from a formula of ours."""
    from opacus.accountants import RDPAccountant

    if steps <= 0:
        return 0.0
    acc = RDPAccountant()
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return float(acc.get_epsilon(delta=float(delta)))


def make_dp_optimizer(
    optimizer: torch.optim.Optimizer,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: int,
    generator: torch.Generator | None,
    release: bool,
) -> torch.optim.Optimizer:
    """opacus' ``DPOptimizer`` (per-sample clipping of the ``grad_sample`` that opacus'
    ``GradSampleModule`` computes, Gaussian noise, scaling by the expected batch size). With
    ``release`` the noise comes from :func:`secure_normal` instead of ``generator``."""
    from opacus.optimizers import DPOptimizer

    class _SecureDPOptimizer(DPOptimizer):
        """opacus' optimizer with its noise drawn from the OS CSPRNG."""

        def add_noise(self) -> None:
            sigma = self.noise_multiplier
            self.noise_multiplier = 0.0  # opacus clips and sums; the noise is ours
            try:
                super().add_noise()
            finally:
                self.noise_multiplier = sigma
            std = sigma * self.max_grad_norm
            for p in self.params:
                p.grad = p.grad + secure_normal(p.grad.shape, std, p.grad)

    cls = _SecureDPOptimizer if release else DPOptimizer
    return cls(
        optimizer,
        noise_multiplier=float(noise_multiplier),
        max_grad_norm=float(max_grad_norm),
        expected_batch_size=int(expected_batch_size),
        loss_reduction="mean",
        generator=None if release else generator,
        secure_mode=bool(release),
    )
