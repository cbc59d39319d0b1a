"""The noise-aware classifier ``p(y | x_t, t)`` for classifier guidance (Dhariwal & Nichol 2021).

It is trained on noised records at random timesteps, so its gradient ``grad_x log p(y | x_t)``
is meaningful all along the reverse trajectory, not only on clean records.
"""

from __future__ import annotations

import torch
from torch import nn

from generators.meddiff.denoiser import TimeEmbedding


class NoisyClassifier(nn.Module):
    """A small MLP with the timestep added to its hidden layer; outputs the logit of ``y = 1``."""

    def __init__(self, n_features: int, hidden_dim: int = 256, time_dim: int = 64) -> None:
        super().__init__()
        self.inp = nn.Linear(n_features, hidden_dim)
        self.time = TimeEmbedding(time_dim, hidden_dim)
        self.body = nn.Sequential(
            nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, 1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.body(self.inp(x) + self.time(t)).squeeze(-1)

    def grad_log_prob(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``d/dx log p(y | x, t)`` per record; works inside ``torch.no_grad`` sampling loops."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logit = self(xg, t)
            sign = 2.0 * y.to(logit.dtype) - 1.0  # log sigmoid(sign * logit) = log p(y | x)
            logp = nn.functional.logsigmoid(sign * logit).sum()
            (grad,) = torch.autograd.grad(logp, xg)
        return grad.detach()
