"""Noise schedules of the discrete-time DDPM: betas, cumulative alphas, and step grids.

Everything here is kept in float64 because the samplers form ratios such as
``sqrt(abar_prev / abar_t)`` where ``abar_t`` can be ~1e-9 at the end of a cosine schedule; float32
would lose the digits that the fixed-point sampler needs to reproduce DDIM to 1e-4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

SCHEDULES = ("linear", "cosine")
#: how a sampler's timesteps are spread between ``T - 1`` and ``0`` (see :meth:`NoiseSchedule.grid`)
SPACINGS = ("uniform", "quadratic", "logsnr", "tuned")
#: ``tuned``: the six timesteps, as fractions of ``T - 1``, that DPM-Solver++(2M) with six calls
#: samples eunomia best on, found once on the validation part at the default schedule (seeds 0-4;
#: the prevalence-fitted grids of those models, :mod:`generators.meddiff.grid_fit`, agreed on
#: about [999, 998, 700, 378, 72, 14], and a wider first step did better on detection; see
#: docs/generators.md). Other step counts interpolate it linearly, as Align Your Steps does.
TUNED_GRID = (1.0, 0.981, 0.701, 0.378, 0.072, 0.014)
#: a named spread of the grid (``SPACINGS``) or the timesteps themselves (a fitted grid)
Spacing = str | Sequence[int] | torch.Tensor


class NoiseSchedule:
    """``T`` forward-noising steps; index ``t`` in ``0..T-1`` is diffusion time ``t + 1``.

    ``alpha_bar[t]`` is the fraction of signal variance left after ``t + 1`` steps, so
    ``x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps``. Index ``-1`` (clean data) has
    ``alpha_bar = 1`` and is what every sampler ends on.
    """

    def __init__(self, betas: torch.Tensor) -> None:
        betas = betas.to(torch.float64)
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError("betas must be a non-empty 1-D tensor")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        self.betas = betas
        self.alpha_bar = torch.cumprod(1.0 - betas, dim=0)

    @property
    def T(self) -> int:
        return int(self.betas.numel())

    def abar(self, t: torch.Tensor | int) -> torch.Tensor:
        """``alpha_bar`` at integer indices, with ``-1`` meaning clean data (``alpha_bar = 1``)."""
        t = torch.as_tensor(t, dtype=torch.long)
        padded = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar])
        return padded[t + 1]

    def grid(self, steps: int, spacing: Spacing = "uniform") -> torch.Tensor:
        """At most ``steps`` timestep indices from ``T - 1`` down to ``0`` ("trailing").

        Starting at ``T - 1`` makes every sampler begin from (almost) pure noise whatever the
        step count, and ending at ``0`` lets the last network call see the least noisy input.
        ``spacing``: ``uniform`` (evenly spaced in ``t``, every sampler's default), ``quadratic``
        (``t`` proportional to ``u^2`` for ``u`` evenly spaced, so the steps crowd at low noise, the
        DDIM paper's alternative) or ``logsnr`` (the timesteps whose half log-SNR is nearest to
        evenly spaced values, DPM-Solver's choice) or ``tuned`` (:data:`TUNED_GRID`, a fixed grid
        tuned on validation records for six calls). Indices that coincide after rounding are kept
        once, so a non-uniform grid of many steps can be shorter than ``steps``. A sequence of
        ``steps`` indices (e.g. a fitted grid, :mod:`generators.meddiff.grid_fit`) is taken as it
        is, once checked: it must fall strictly from ``T - 1`` and stay at or above ``0``.
        """
        if not 1 <= steps <= self.T:
            raise ValueError(f"steps must be in 1..{self.T}, got {steps}")
        if not isinstance(spacing, str):
            pts = torch.as_tensor(spacing, dtype=torch.long).reshape(-1)
            ok = len(pts) == steps and int(pts[0]) == self.T - 1 and int(pts[-1]) >= 0 and bool((pts.diff() < 0).all())
            if not ok:
                raise ValueError(f"a grid of {steps} steps must fall strictly from {self.T - 1} to >= 0, "
                                 f"got {pts.tolist()}")
            return pts
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; valid: {', '.join(SPACINGS)}")
        if steps == 1:
            return torch.tensor([self.T - 1], dtype=torch.long)
        u = torch.linspace(1.0, 0.0, steps, dtype=torch.float64)
        if spacing == "uniform":
            pts = torch.linspace(self.T - 1, 0, steps, dtype=torch.float64).round().long()
        elif spacing == "quadratic":
            pts = ((self.T - 1) * u**2).round().long()
        elif spacing == "tuned":
            knots = torch.tensor(TUNED_GRID, dtype=torch.float64)
            pos = (1.0 - u) * (len(knots) - 1)  # where each step falls among the knots
            lo = pos.floor().long().clamp(max=len(knots) - 2)
            frac = pos - lo
            pts = ((self.T - 1) * (knots[lo] * (1 - frac) + knots[lo + 1] * frac)).round().long()
        else:
            a = self.alpha_bar
            lam = 0.5 * (a.log() - (1 - a).log())  # decreasing in t
            targets = lam[0] + u * (lam[-1] - lam[0])
            pts = (lam[None, :] - targets[:, None]).abs().argmin(dim=1)
        return torch.unique_consecutive(pts)


def linear_betas(T: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """Ho et al. (2020): betas linear in t; the end points are rescaled by ``1000 / T`` so the
    total noise stays the same whatever ``T`` is (Nichol & Dhariwal 2021)."""
    scale = 1000.0 / T
    return torch.linspace(start * scale, min(end * scale, 0.999), T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021): ``alpha_bar(t) = cos^2(pi/2 (t/T + s)/(1 + s))``; betas capped at
    ``max_beta`` so the last step is not a division by zero."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = 1.0 - abar[1:] / abar[:-1]
    return betas.clamp(min=1e-8, max=max_beta)


def make_schedule(kind: str, T: int) -> NoiseSchedule:
    if kind == "linear":
        return NoiseSchedule(linear_betas(T))
    if kind == "cosine":
        return NoiseSchedule(cosine_betas(T))
    raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
