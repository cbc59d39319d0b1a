"""EMR-WGAN (Zhang et al. 2020): a WGAN-GP straight on the records, no autoencoder."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.departures import Departures
from generators.gans._loop import AdversarialGenerator
from generators.gans._networks import ResidualLNBlock
from generators.gans._validate import check_non_negative, validate_common

# Batch 1000 gives 3 generator updates per epoch on eunomia; see the class docstring for what was
# measured. ``quick`` is a smoke run that learns (chosen on eunomia's validation part).
_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 70},
    "quick": {"epochs": 40, "batch_size": 100, "d_steps": 2, "width": 64, "lr_g": 1e-3, "lr_d": 1e-3, "max_updates": 2000},
}


def _stack(n_in: int, n_out: int, width: int, n_layers: int, act: type[nn.Module]) -> nn.Sequential:
    """``n_layers`` linear layers: one in, ``n_layers - 2`` residual layer-norm blocks, one out."""
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.LayerNorm(width), act()]
    layers += [ResidualLNBlock(width, act()) for _ in range(max(0, n_layers - 2))]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self) -> None:
        super().__init__(0.2)


class EMRWGAN(AdversarialGenerator):
    """EMR-WGAN: generator and critic of residual, layer-normed layers, trained as a WGAN-GP.

    Zhang, Yan, Mesa, Sun, Malin. *Ensuring electronic medical record simulation through better
    training, modeling, and evaluation.* JAMIA 27(1), 2020.

    Published (kept as defaults): no autoencoder; generator and critic of ``n_layers=6`` layers
    of width ``width=384`` with layer normalisation and residual connections; sigmoid output;
    gradient penalty ``gp_weight=10``; RMSprop with ``lr_g=1e-5`` and ``lr_d=2e-5``;
    ``batch_size=1000``; noise of size ``noise_dim=128``.

    Not given in the material this project works from, so chosen here (unverified):
    ``epochs=1000``; ``d_steps=5`` critic updates per generator update (the WGAN-GP paper's
    value); ReLU in the generator and LeakyReLU(0.2) in the critic. Binary data only (sigmoid
    output); samples are the probabilities rounded at 0.5, as for medGAN.

    ``conditional=True`` is the label-conditional variant: the one-hot label is appended to the
    generator's noise and to the critic's input, ``sample`` honours the labels it is given and
    draws them from the training prevalence otherwise, and :attr:`supports_conditioning` turns
    true on that instance so the harness passes labels rather than appending a label column.

    Presets: one epoch costs about 2.2 s on eunomia on 2 idle CPU cores (the published width
    and depth, five critic updates, each with the penalty's double backward pass), so the
    default 1000 epochs take about 40 minutes; ``cpu`` shortens training to 70 epochs (210
    generator updates) to fit a 3-minute budget, which leaves the model undertrained at the
    published learning rates (on eunomia, seed 0: dimension-wise prediction AUROC 0.51 at
    ``cpu`` against 0.80 after the full 1000 epochs; the independent baseline scores 0.49);
    ``quick`` is for the first look, tests and smoke runs, not for results. Its departures:
    batches of 100 (published 1000), 2 critic updates per generator update (5 here), width 64
    (384), both learning rates 1e-3 (published 1e-5 and 2e-5: a hundred and fifty times as
    large, and equal, so that a couple of thousand updates learn), and 2,000 optimiser updates
    in all (the ``max_updates`` cap; 40 epochs otherwise). On eunomia's validation part (seeds
    0-2, each its own split, one thread) it scores dimension-wise prediction AUROC 0.79, 0.82,
    0.85 against independent's 0.49, 0.51, 0.53, where the former ``quick`` (learning rates
    1e-4 / 2e-4, 600 updates) scored 0.51, no better than independent; its fit took 7-8 s
    on one thread (a shared 2-core machine at load 5.7).

    Which data chose what: the defaults are the published values or, where the material is
    silent, fixed a priori (``d_steps=5`` from the WGAN-GP paper; the activations); ``cpu``'s 70
    epochs were set by the time budget alone (an epoch's cost), and the figures above were measured
    after that choice; ``quick`` was chosen on eunomia's validation part (three candidate
    schedules, seed 0, then seeds 1-2 of the one kept) and serves the learning test on the
    simulated toy data (``tests/test_learning.py``). No default or preset was chosen on
    eunomia's test records.

    Budget: ``max_updates=N`` (0: off) runs ``N`` optimiser updates in all (critic and
    generator; Lucic et al. 2018) instead of the epochs; ``budget_``, ``schedule_fraction_``
    and the diagnostics report updates run against the 1000-epoch schedule (the ``cpu``
    preset runs 7 % of it, which the tables mark).
    """

    name = "emrwgan"
    loss: ClassVar[str] = "wgan-gp"
    supported_kinds: ClassVar[tuple[str, ...]] = ("binary",)
    presets: ClassVar[dict[str, dict[str, Any]]] = _PRESETS
    reference = "Zhang et al., JAMIA 2020"
    departures = Departures(changes=("epochs 1000, 5 critic updates per generator update, ReLU / LeakyReLU(0.2) "
                                     "chosen here (not in the published material)",))

    def __init__(
        self,
        conditional: bool = False,
        epochs: int = 1000,
        batch_size: int = 1000,
        d_steps: int = 5,
        lr_g: float = 1e-5,
        lr_d: float = 2e-5,
        gp_weight: float = 10.0,
        noise_dim: int = 128,
        width: int = 384,
        n_layers: int = 6,
        max_updates: int = 0,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.conditional = conditional
        self.epochs = epochs
        self.batch_size = batch_size
        self.d_steps = d_steps
        self.lr_g = lr_g
        self.lr_d = lr_d
        self.gp_weight = gp_weight
        self.noise_dim = noise_dim
        self.width = width
        self.n_layers = n_layers
        self.max_updates = max_updates
        self.device = device
        self.random_state = random_state

    @property  # type: ignore[override]
    def supports_conditioning(self) -> bool:
        """Per instance: the label-conditional variant generates records for given labels."""
        return bool(self.conditional)

    def validate_params(self) -> None:
        validate_common(
            self, ("epochs", "batch_size", "d_steps", "noise_dim", "width", "n_layers"), ("lr_g", "lr_d")
        )
        check_non_negative(self, "gp_weight")

    def _build(self, n_codes: int) -> None:
        self.noise_dim_ = self.noise_dim
        c = self.n_classes_
        gen = _stack(self.noise_dim + c, n_codes, self.width, self.n_layers, nn.ReLU)
        self.generator_ = nn.Sequential(gen, nn.Sigmoid()).to(self.device_)
        self.critic_ = _Squeeze(_stack(n_codes + c, 1, self.width, self.n_layers, _LeakyReLU)).to(self.device_)
        self.opt_g_ = torch.optim.RMSprop(self.generator_.parameters(), lr=self.lr_g)
        self.opt_d_ = torch.optim.RMSprop(self.critic_.parameters(), lr=self.lr_d)


class _Squeeze(nn.Module):
    """A critic returning one score per record, shape ``(n,)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
