"""DPGAN (Xie et al. 2018): a WGAN whose critic is trained with differentially private SGD."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from generators.gans._dp import dp_epsilon, make_dp_optimizer, secure_uniform
from generators.gans._loop import AdversarialGenerator, noise
from generators.gans._networks import MLPCritic, ShortcutGenerator
from generators.gans._validate import check_dims, check_mode, validate_common

__all__ = ["DPGAN", "dp_epsilon"]

_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "quick": {"epochs": 20, "d_steps": 2, "lr": 1e-3, "max_updates": 600},
}


class DPGAN(AdversarialGenerator):
    """DPGAN: only the critic sees real records, and it learns from them through DP-SGD.

    Xie, Lin, Wang, Wang, Zhou. *Differentially Private Generative Adversarial Network.*
    arXiv:1802.06739, 2018.

    DP-SGD through opacus' own machinery: the critic is wrapped in ``GradSampleModule``
    (per-record gradients) and stepped by ``DPOptimizer`` (per-record clipping to
    ``max_grad_norm``, Gaussian noise of standard deviation ``noise_multiplier *
    max_grad_norm`` on the sum, division by the expected batch size). Each critic update draws
    a Poisson sample of the training records (each with probability ``q = batch_size / n``)
    and ``batch_size`` generated records (a fixed number, so the batch's size reveals nothing);
    the critic's per-record loss is ``-C(x)`` for a real record and ``C(G(z))`` for a
    generated one, clipped alike. The generator only ever sees the critic, so its samples
    inherit the critic's guarantee by post-processing; so does the weight clipping
    ``clip_value`` kept as the WGAN's Lipschitz constraint. The privacy spent, (``epsilon``,
    ``delta``), comes from opacus' ``RDPAccountant`` stepped once per critic update actually
    run, and is reported by :meth:`diagnostics` and per epoch in the history. The number of
    training records (which ``q`` reveals) is taken as public, as in opacus.

    Two modes:

    * benchmark (``release=false``, default): noise and Poisson sampling come from torch
      generators seeded from ``random_state``, so a run is reproducible; since the seed is
      published with the results, the guarantee is **nominal** (``epsilon_nominal = 1`` in the
      diagnostics) and the model must not be released;
    * ``release=true``: noise and sampling come from the operating system's CSPRNG
      (:mod:`generators.gans._dp`; opacus' ``secure_mode`` noise, four draws summed), so every
      run draws different noise and nobody can replay it. This is the way to publish a model
      (``epsilon_nominal = 0``). It is slower: about 3 MB of OS randomness per critic update
      on eunomia.

    In both modes nothing unnoised about the training records leaves the model: the history
    holds the generator's loss (a function of the private critic and of noise) and the
    epsilon spent; no critic loss, Wasserstein estimate, gradient norm or clipped fraction on
    real records, and no never-generated count (it would need the set of codes present in
    training).

    Networks: the generator is medGAN's (noise ``noise_dim`` through ``gen_dims`` shortcut
    layers with batch norm, settled by medGAN's burn-in before sampling) followed by a linear
    layer and a sigmoid (binary) or softplus (counts); the critic an MLP ``disc_dims`` without
    minibatch averaging or batch norm, whose mixing of records would break per-record
    sensitivity, and without output bias (the Wasserstein loss cannot see it, yet its
    per-record gradient, always 1, would use up the clipping bound). No autoencoder: one
    pre-trained on the private records would need a privacy budget of its own.

    Defaults: the WGAN paper's optimiser (RMSprop ``lr=5e-5``, ``d_steps=5``, ``clip_value=0.01``,
    ``batch_size=64``), which Xie et al. build on; ``noise_multiplier=2.0``, ``max_grad_norm=1.0``,
    ``delta=1e-5``, ``epochs=50``; on eunomia (2,155 training records, 244 columns with the
    label) that spends epsilon 7.4. How they were chosen: the WGAN settings are the paper's;
    ``noise_multiplier`` and ``delta`` were fixed a priori; ``max_grad_norm = 1.0`` is the
    usual DP-SGD default. An earlier version of this project compared bounds 0.1 and 1.0 on
    eunomia's training records and kept 1.0: that comparison used the private data and its
    privacy cost is not in epsilon. The released value equals the data-independent default,
    so the selection added nothing to it; to publish a model, keep these defaults or tune on
    public data only. ``cpu`` changes nothing (the defaults fit the 3-minute budget on 2 CPU
    cores). ``quick`` (2 critic updates per generator update, ``lr=1e-3``, 600 optimiser updates
    in all, the ``max_updates`` cap; batches of 64 and the noise kept) is for tests and smoke
    runs and **does not learn eunomia at the default noise**, by the privacy, not the schedule:
    on eunomia's validation part (seed 0; 1,885 training records, so ``q = 64 / 1,885``; 400
    critic updates) it scores dimension-wise prediction AUROC 0.49 at ``noise_multiplier=2.0``
    (epsilon 1.6) and 0.50 at 0.5 (epsilon 28), against independent's 0.49, while the same
    schedule at 0.1 (epsilon about 7,800: no protection to speak of) scores 0.65. More updates
    at the default noise do not help within a smoke run's cost: 400 critic updates of Poisson
    batches of 512 (epsilon 17, about nine times quick's cost: per-record gradients) scored
    0.51, and the whole default schedule scores 0.50 on the committed leaderboard. So quick
    DPGAN at its defaults shows that DP training runs, not what it learns; to see the model
    learn, lower the noise (``dpgan:noise_multiplier=0.1``) and read epsilon in the
    diagnostics. The former ``quick`` (batches of 256, 120 updates) did not learn even at 0.5
    (0.51).

    Budget: ``max_updates=N`` (0: off) runs ``N`` optimiser updates in all (critic and
    generator, Lucic et al. 2018) instead of the epochs; epsilon is what those updates spent.
    ``budget_``, ``schedule_fraction_`` and the diagnostics report updates run against the
    default 50 epochs.
    """

    name = "dpgan"
    loss: ClassVar[str] = "wgan-clip"
    presets: ClassVar[dict[str, dict[str, Any]]] = _PRESETS
    reference = "Xie et al., arXiv:1802.06739 (2018)"

    def __init__(
        self,
        mode: str = "auto",
        epochs: int = 50,
        batch_size: int = 64,
        d_steps: int = 5,
        lr: float = 5e-5,
        clip_value: float = 0.01,
        noise_multiplier: float = 2.0,
        max_grad_norm: float = 1.0,
        delta: float = 1e-5,
        noise_dim: int = 128,
        gen_dims: tuple[int, ...] = (128, 128),
        disc_dims: tuple[int, ...] = (256, 128),
        release: bool = False,
        max_updates: int = 0,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.mode = mode
        self.epochs = epochs
        self.batch_size = batch_size
        self.d_steps = d_steps
        self.lr = lr
        self.clip_value = clip_value
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.delta = delta
        self.noise_dim = noise_dim
        self.gen_dims = gen_dims
        self.disc_dims = disc_dims
        self.release = release
        self.max_updates = max_updates
        self.device = device
        self.random_state = random_state

    def validate_params(self) -> None:
        check_mode(self)
        validate_common(
            self,
            ("epochs", "batch_size", "d_steps", "noise_dim"),
            ("lr", "clip_value", "noise_multiplier", "max_grad_norm", "delta"),
        )
        if not self.delta < 1:
            raise OptionError(f"generator {self.name!r}: option 'delta' must be in (0, 1), got {self.delta!r}")
        if not isinstance(self.release, bool):
            raise OptionError(f"generator {self.name!r}: option 'release' must be true or false, got {self.release!r}")
        check_dims(self, "gen_dims", "disc_dims")

    def _present(self, data: EHRDataset) -> np.ndarray | None:
        return None  # which codes occur in training is a statistic of the records: not kept

    # ------------------------------------------------------------------ networks
    def _build(self, n_codes: int) -> None:
        from opacus.accountants import RDPAccountant
        from opacus.grad_sample import GradSampleModule

        self.noise_dim_ = self.noise_dim
        head: nn.Module = nn.Sigmoid() if self.mode_ == "binary" else nn.Softplus()
        self.generator_ = nn.Sequential(
            ShortcutGenerator(self.noise_dim, tuple(self.gen_dims), "count"),
            nn.Linear(self.gen_dims[-1], n_codes),
            head,
        ).to(self.device_)
        critic = MLPCritic(n_codes, tuple(self.disc_dims), out_bias=False).to(self.device_)
        self.critic_ = GradSampleModule(critic, loss_reduction="mean")
        self.opt_g_ = torch.optim.RMSprop(self.generator_.parameters(), lr=self.lr)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.noise_rng_ = None if self.release else torch.Generator(device=self.device_).manual_seed(seed + 104_729)
        self.poisson_rng_ = None if self.release else torch.Generator().manual_seed(seed + 130_363)
        self.opt_d_ = make_dp_optimizer(
            torch.optim.RMSprop(self.critic_.parameters(), lr=self.lr),
            self.noise_multiplier,
            self.max_grad_norm,
            self.batch_size,
            self.noise_rng_,
            self.release,
        )
        self.accountant_ = RDPAccountant()
        self.rdp_step_ = None
        self.dp_steps_ = 0
        self.epsilon_ = 0.0

    # ------------------------------------------------------------------ privacy
    def _adversarial(self, X: torch.Tensor, y: torch.Tensor | None, iterations: int, per_epoch: int) -> None:
        n = X.shape[0]
        self.sample_rate_ = min(1.0, self.batch_size / n)
        super()._adversarial(X, y, iterations, per_epoch)
        # training is over: the reported epsilon is the accountant's own, for the steps run
        self.epsilon_ = float(self.accountant_.get_epsilon(delta=float(self.delta)))

    def _poisson(self, n: int) -> torch.Tensor:
        """Each record in the batch with probability ``q``, independently (as the accountant
        assumes); CSPRNG uniforms in release mode."""
        if self.release:
            return torch.as_tensor(secure_uniform(n) < self.sample_rate_)
        return torch.rand(n, generator=self.poisson_rng_) < self.sample_rate_

    def _critic_update(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        n: int,
        idx: torch.Tensor | None = None,
        clip: bool = True,
    ) -> dict[str, torch.Tensor]:
        real = X[self._poisson(n).nonzero().squeeze(1).to(self.device_)]
        with torch.no_grad():
            fake = self._generate(noise(self.batch_size, self.noise_dim_, self.rng_, self.device_), None)
        batch = torch.cat([real, fake])
        sign = torch.cat([-torch.ones(real.shape[0]), torch.ones(fake.shape[0])]).to(self.device_)
        self.opt_d_.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # opacus' per-sample hooks fire on outputs: the records themselves need no gradient
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            (sign * self.critic_(batch)).mean().backward()
        self.opt_d_.step()  # clip per record, add noise, divide by the expected batch size, step
        self._clip_critic()
        self.dp_steps_ += 1
        self.updates_ += 1
        self.accountant_.step(noise_multiplier=float(self.noise_multiplier), sample_rate=self.sample_rate_)
        return {}  # nothing computed on real records is reported

    def _generator_update(self, y: torch.Tensor | None, n: int) -> dict[str, torch.Tensor]:
        self.critic_.disable_hooks()  # no per-record gradients for the critic here
        try:
            return super()._generator_update(y, n)
        finally:
            self.critic_.enable_hooks()

    def _end_epoch(self, epoch: int) -> None:
        """Epsilon so far into the history: the RDP of one step times the steps run (what
        opacus' accountant computes for a constant (sigma, q), without re-deriving the
        per-step RDP, which is slow at fractional orders)."""
        from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

        orders = self.accountant_.DEFAULT_ALPHAS
        if getattr(self, "rdp_step_", None) is None:
            self.rdp_step_ = compute_rdp(
                q=self.sample_rate_, noise_multiplier=float(self.noise_multiplier), steps=1, orders=orders
            )
        eps, _ = get_privacy_spent(orders=orders, rdp=self.rdp_step_ * self.dp_steps_, delta=float(self.delta))
        self.epsilon_ = float(eps)
        self.history_[-1]["epsilon"] = self.epsilon_

    def diagnostics(self) -> dict[str, float]:
        """The privacy spent (``epsilon``, ``delta``), whether it is nominal (benchmark mode:
        seeded noise), and the budget; nothing computed on the training records unnoised."""
        out = super().diagnostics()
        if getattr(self, "fitted_", False):
            out.update(
                epsilon=float(self.epsilon_),
                delta=float(self.delta),
                epsilon_nominal=0.0 if self.release else 1.0,
                noise_multiplier=float(self.noise_multiplier),
                dp_steps=float(self.dp_steps_),
                sample_rate=float(self.sample_rate_),
            )
        return out

    @staticmethod
    def planned_epsilon(
        n_records: int, epochs: int, batch_size: int, d_steps: int, noise_multiplier: float, delta: float
    ) -> float:
        """The epsilon a fit would spend, before running it (to plan a budget)."""
        b = min(batch_size, n_records)
        steps = epochs * math.ceil(n_records / b) * d_steps
        return dp_epsilon(noise_multiplier, b / n_records, steps, delta)
