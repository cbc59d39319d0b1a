"""EHRDiff's sampler: EDM's deterministic Heun solver of the probability-flow ODE.

A small object apart from the network (diffusers' split): it drives any callable
``denoise(x, sigma) -> D(x; sigma)`` (guidance is folded into that callable by the generator) and
knows nothing of labels or weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class HeunSampler:
    """Deterministic second-order Heun steps on EDM's noise-level grid (Karras et al. 2022, Alg. 1
    with ``S_churn = 0``).

    Grid: ``sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
    for ``i = 0..N-1``, then ``sigma_N = 0``; ``rho = 7`` spends the steps near small noise where
    the records take shape. From ``x_0 = sigma_max z`` each step takes the Euler slope
    ``d = (x - D(x; sigma)) / sigma`` and, except for the last step (to ``sigma = 0``), corrects it
    with the slope at the Euler end point (trapezoid rule). ``N`` steps cost ``2N - 1`` network
    evaluations (``nfe``). The state is kept in float64, as in EDM's and EHRDiff's code.
    """

    name = "heun"

    def __init__(self, steps: int = 32, sigma_min: float = 0.02, sigma_max: float = 80.0, rho: float = 7.0) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.steps = int(steps)
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.rho = float(rho)
        self.nfe = 0

    def sigmas(self) -> torch.Tensor:
        """The ``N + 1`` noise levels, from ``sigma_max`` down to 0 (float64)."""
        i = torch.arange(self.steps, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        frac = i / max(1, self.steps - 1)
        grid = (hi + frac * (lo - hi)) ** self.rho
        return torch.cat([grid, torch.zeros(1, dtype=torch.float64)])

    def __call__(self, denoise: Denoise, z: torch.Tensor) -> torch.Tensor:
        """Integrate from the standard normal draw ``z`` (shape ``(n, d)``); returns ``x`` at
        ``sigma = 0`` (float64), before any clipping or rounding."""
        self.nfe = 0
        sig = self.sigmas().to(z.device)
        x = z.to(torch.float64) * sig[0]
        n = x.shape[0]
        for i in range(self.steps):
            s_cur, s_next = sig[i], sig[i + 1]
            d_cur = (x - self._d(denoise, x, s_cur, n)) / s_cur
            x_euler = x + (s_next - s_cur) * d_cur
            if s_next > 0:
                d_next = (x_euler - self._d(denoise, x_euler, s_next, n)) / s_next
                x = x + (s_next - s_cur) * 0.5 * (d_cur + d_next)
            else:
                x = x_euler
        return x

    def _d(self, denoise: Denoise, x: torch.Tensor, sigma: torch.Tensor, n: int) -> torch.Tensor:
        self.nfe += 1
        return denoise(x, sigma.expand(n)).to(torch.float64)

    def info(self) -> dict[str, float]:
        return {"nfe": float(self.nfe), "steps": float(self.steps)}
