"""The adversarial loop shared by the EHR GANs: schedule and budget, updates, batch-norm burn-in,
sampling.

The GANs differ in a handful of places (the critic's loss, what the generator's output passes
through, whether the critic is privatised), so one loop lives here and each model overrides
only the step that makes it what it is. Keeping the loop in one place means that every model
counts updates, draws batches, logs losses and reports its budget the same way, which is what
makes their rows in a table comparable.

Conventions shared by every model in this package:

* An *iteration* is ``d_steps`` critic updates and one generator update; an *epoch* is
  ``ceil(n_records / batch_size)`` iterations. Every update draws a fresh random batch of
  ``min(batch_size, n_records)`` distinct records (medGAN's own scheme), so batch-norm layers
  never see a batch of one record.
* The schedule is a list of phases (autoencoder pre-training, adversarial training), each a
  number of iterations. ``max_updates > 0`` replaces the epochs by an equal budget of optimiser
  updates (Lucic et al. 2018): every phase is scaled by the same factor so that the updates of
  all networks add up to ``max_updates`` (to whole iterations). ``budget_`` and the diagnostics
  say how many updates ran against the published schedule on the same data.
* Weights are initialised under a private copy of torch's global RNG seeded from
  ``random_state``, and every draw during training and sampling comes from private CPU
  ``torch.Generator`` objects, so a seed fixes the numbers on CPU whatever ran before.
* ``bn_burn_in`` batches of ``bn_burn_in_batch`` noise vectors run through the generator in
  training mode after training (medGAN's public code: 1,000 batches of 100), settling the
  batch-norm running statistics before sampling in inference mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from generators._torch import (
    check_finite,
    flush_denormals,
    minibatches,
    resolve_device,
    to_tensor,
    torch_generator,
)
from generators.base import Generator, budget_diagnostics, record_budget
from generators.gans._losses import (
    bgan_g_loss,
    gan_d_loss,
    gan_g_loss,
    gradient_penalty,
    l2_penalty,
    reconstruction_loss,
)
from generators.gans._records import never_generated, to_records
from generators.gans._validate import resolve_mode

SAMPLE_CHUNK = 10_000

Phase = tuple[str, int, int]  # (name, iterations, iterations per epoch)


@contextmanager
def seeded_init(random_state: int | None) -> Iterator[None]:
    """Build modules under a private copy of the global CPU RNG so that initial weights depend
    on ``random_state`` only, and the caller's global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if random_state is None else int(random_state))
        yield


def random_batch(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """``min(batch_size, n)`` distinct record indices (drawn on the CPU generator ``gen``)."""
    idx = torch.randperm(n, generator=gen, device="cpu")[: min(batch_size, n)]
    return idx.to(device)


def noise(n: int, dim: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(n, dim, generator=gen).to(device)


def scale_phases(phases: list[Phase], planned_updates: int, max_updates: int) -> list[Phase]:
    """Every phase's iterations times ``max_updates / planned_updates`` (at least one each)."""
    if max_updates <= 0 or planned_updates <= 0:
        return phases
    f = max_updates / planned_updates
    return [(name, max(1, round(it * f)), per) for name, it, per in phases]


class AdversarialGenerator(Generator):
    """The adversarial loop shared by the EHR GANs; subclasses build the networks.

    Subclasses set ``loss`` (``gan``, ``bgan``, ``wgan-gp`` or ``wgan-clip``) and implement
    :meth:`_build` (networks and optimisers) and, if they pre-train, :meth:`_pretrain` and
    :meth:`_phases`. DPGAN overrides :meth:`_critic_update` to privatise the critic.
    """

    loss: ClassVar[str] = "gan"
    supports_conditioning: ClassVar[bool] = False
    bn_burn_in: ClassVar[int] = 1000
    bn_burn_in_batch: ClassVar[int] = 100
    critic_sees_eval_bn: ClassVar[bool] = False  # medGAN: fakes for the critic drawn with BN in inference mode

    # set by the subclasses' __init__
    epochs: int
    batch_size: int
    d_steps: int
    device: str
    random_state: int | None
    max_updates: int

    # ------------------------------------------------------------------ schedule
    def _phases(self, n: int, p: dict[str, Any]) -> list[Phase]:
        """The schedule under hyperparameters ``p`` on ``n`` records."""
        per = math.ceil(n / min(int(p["batch_size"]), n))
        return [("gan", int(p["epochs"]) * per, per)]

    def _phase_updates(self, name: str, iterations: int, p: dict[str, Any]) -> int:
        """Optimiser updates (all networks) of ``iterations`` iterations of phase ``name``."""
        if name == "pretrain":
            return iterations
        return iterations * (int(p["d_steps"]) + 1)

    def _plan_updates(self, phases: list[Phase], p: dict[str, Any]) -> int:
        return sum(self._phase_updates(name, it, p) for name, it, _ in phases)

    def published_params(self) -> dict[str, Any]:
        """The hyperparameters the published schedule is measured against (the class defaults)."""
        return self.param_defaults()

    # ------------------------------------------------------------------ fit
    def fit(self, data: EHRDataset) -> AdversarialGenerator:
        self.fitted_ = False  # a failed refit must not leave the old model usable
        self.validate_params()
        self._check_data(data)
        self.mode_ = resolve_mode(self, data) if hasattr(self, "mode") else data.kind
        self.kind_ = data.kind
        self.n_codes_ = data.n_codes
        self.device_ = resolve_device(self.device)
        self.present_ = self._present(data)
        self.history_: list[dict[str, Any]] = []
        self.rng_ = torch_generator(self.random_state)
        self.updates_ = 0
        self.l2_loss_ = 0.0  # medGAN family: L2 added to every loss (set in _build)
        conditional = bool(self.supports_conditioning) and data.y is not None
        self.n_classes_ = 2 if conditional else 0
        self.prior_ = float(data.y.mean()) if conditional else None
        n = data.n_records
        own = self.get_params()
        planned = self._phases(n, own)
        self.phases_ = scale_phases(planned, self._plan_updates(planned, own), int(getattr(self, "max_updates", 0)))
        X = to_tensor(data.X, self.device_)
        y = torch.as_tensor(data.y, device=self.device_) if conditional else None
        with seeded_init(self.random_state):
            self._build(data.n_codes)
        with flush_denormals():  # the L2 term drives unused weights subnormal (20x slower)
            for name, iterations, per in self.phases_:
                if name == "pretrain":
                    self._pretrain(X, iterations, per)
                else:
                    self._adversarial(X, y, iterations, per)
        self._burn_in_batchnorm()
        self.generator_.eval()
        self._record_budget(n)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.sample_rng_ = torch_generator(seed + 7919)  # sampling draws do not depend on training length
        self.last_sample_: dict[str, float] = {}
        self.fitted_ = True
        return self

    def _present(self, data: EHRDataset) -> np.ndarray | None:
        """Which codes occur in training (for the never-generated diagnostic)."""
        return (data.X > 0).any(axis=0)

    def _record_budget(self, n: int) -> None:
        pub = self.published_params()
        pub_phases = self._phases(n, pub)
        gan = [(it, per) for name, it, per in self.phases_ if name == "gan"]
        pub_gan = [(it, per) for name, it, per in pub_phases if name == "gan"]
        record_budget(
            self,
            self.updates_,
            self._plan_updates(pub_phases, pub),
            sum(it / per for it, per in gan),
            sum(it / per for it, per in pub_gan),
        )

    def _build(self, n_codes: int) -> None:
        """Create ``generator_`` (noise [+ label] -> data space), ``critic_``, ``opt_g_``,
        ``opt_d_`` and ``noise_dim_``."""
        raise NotImplementedError

    def _pretrain(self, X: torch.Tensor, iterations: int, per_epoch: int) -> None:
        """Optional phase before the adversarial one (medGAN's autoencoder)."""

    # ------------------------------------------------------------------ pieces
    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y.long(), self.n_classes_).float()

    def _generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is not None and self.n_classes_:
            z = torch.cat([z, self._onehot(y)], dim=1)
        return self.generator_(z)

    def _record_draw(self) -> torch.Generator | None:
        """The generator that draws binary records from the output probabilities, or None to round
        them at 0.5 (every GAN here but a medGAN with ``binarize='bernoulli'``)."""
        return None

    def _critic(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is not None and self.n_classes_:
            x = torch.cat([x, self._onehot(y)], dim=1)
        return self.critic_(x)

    def _critic_loss(
        self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s_real, s_fake = self._critic(real, y), self._critic(fake, y)
        if self.loss in ("gan", "bgan"):
            loss = gan_d_loss(s_real, s_fake)
            return loss, {"loss_d": loss.detach()}
        wdist = s_real.mean() - s_fake.mean()
        if self.loss == "wgan-gp":
            gp = gradient_penalty(lambda x: self._critic(x, y), real, fake, self.rng_)
            loss = -wdist + float(self.gp_weight) * gp  # type: ignore[attr-defined]
            return loss, {"loss_d": loss.detach(), "wdist": wdist.detach(), "gp": gp.detach()}
        loss = -wdist
        return loss, {"loss_d": loss.detach(), "wdist": wdist.detach()}

    def _generator_loss(self, s_fake: torch.Tensor) -> torch.Tensor:
        if self.loss == "gan":
            return gan_g_loss(s_fake)
        if self.loss == "bgan":
            return bgan_g_loss(s_fake)
        return -s_fake.mean()

    @torch.no_grad()
    def _fakes_for_critic(self, b: int, lab: torch.Tensor | None) -> torch.Tensor:
        z = noise(b, self.noise_dim_, self.rng_, self.device_)
        if not self.critic_sees_eval_bn:
            return self._generate(z, lab)
        self.generator_.eval()
        try:
            return self._generate(z, lab)
        finally:
            self.generator_.train()

    def _clip_critic(self) -> None:
        clip = float(self.clip_value)  # type: ignore[attr-defined]
        with torch.no_grad():
            for p in self.critic_.parameters():
                p.clamp_(-clip, clip)

    def _critic_update(
        self,
        X: torch.Tensor,
        y: torch.Tensor | None,
        n: int,
        idx: torch.Tensor | None = None,
        clip: bool = True,
    ) -> dict[str, torch.Tensor]:
        """One critic update on the records ``idx`` (a fresh random batch when None); a
        weight-clipped critic is clipped after it unless ``clip`` is false."""
        if idx is None:
            idx = random_batch(n, self.batch_size, self.rng_, self.device_)
        real = X[idx]
        lab = None if y is None else y[idx]
        fake = self._fakes_for_critic(real.shape[0], lab)
        loss, stats = self._critic_loss(real, fake, lab)
        if self.l2_loss_:
            loss = loss + l2_penalty([self.critic_], self.l2_loss_)
        self.opt_d_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d_.step()
        self.updates_ += 1
        if clip and self.loss == "wgan-clip":
            self._clip_critic()
        return stats

    def _generator_update(self, y: torch.Tensor | None, n: int) -> dict[str, torch.Tensor]:
        b = min(self.batch_size, n)
        lab = None if y is None else y[random_batch(n, b, self.rng_, self.device_)]
        z = noise(b, self.noise_dim_, self.rng_, self.device_)
        self.critic_.requires_grad_(False)
        try:
            loss = self._generator_loss(self._critic(self._generate(z, lab), lab))
        finally:
            self.critic_.requires_grad_(True)
        total = loss + l2_penalty([self.generator_], self.l2_loss_) if self.l2_loss_ else loss
        self.opt_g_.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g_.step()
        self.updates_ += 1
        return {"loss_g": loss.detach()}

    def _iteration(
        self, X: torch.Tensor, y: torch.Tensor | None, n: int, it: int
    ) -> list[dict[str, torch.Tensor]]:
        """One iteration: ``d_steps`` critic updates, then one generator update."""
        stats = [self._critic_update(X, y, n) for _ in range(self.d_steps)]
        stats.append(self._generator_update(y, n))
        return stats

    def _adversarial(self, X: torch.Tensor, y: torch.Tensor | None, iterations: int, per_epoch: int) -> None:
        n = X.shape[0]
        self.generator_.train()
        self.critic_.train()
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for it in range(iterations):
            for s in self._iteration(X, y, n, it):
                accumulate(sums, counts, s)
            self._report_progress(it + 1, iterations, "gan iteration")
            if (it + 1) % per_epoch == 0 or it + 1 == iterations:
                epoch = math.ceil((it + 1) / per_epoch)
                row = {k: float(v) / counts[k] for k, v in sums.items()}
                check_finite(self.name, epoch, **row)
                self.history_.append({"epoch": epoch, "phase": "gan", **row})
                sums, counts = {}, {}
                self._end_epoch(epoch)

    def _end_epoch(self, epoch: int) -> None:
        """Hook after each adversarial epoch (DPGAN's accountant)."""

    @torch.no_grad()
    def _burn_in_batchnorm(self) -> None:
        """medGAN's burn-in: ``bn_burn_in`` noise batches through the generator in training mode
        (the running statistics move by the trained momentum), no parameter changes."""
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.generator_.modules())
        if not has_bn or self.bn_burn_in <= 0:
            return
        self.generator_.train()
        b = max(2, self.bn_burn_in_batch)
        for _ in range(self.bn_burn_in):
            lab = None
            if self.n_classes_:
                lab = (torch.rand(b, generator=self.rng_) < self.prior_).long().to(self.device_)
            self._generate(noise(b, self.noise_dim_, self.rng_, self.device_), lab)

    # ------------------------------------------------------------------ sample
    @torch.no_grad()
    def _raw_sample(self, n: int, y: torch.Tensor | None) -> np.ndarray:
        self.generator_.eval()
        out = []
        for s in range(0, n, SAMPLE_CHUNK):
            b = min(SAMPLE_CHUNK, n - s)
            z = noise(b, self.noise_dim_, self.sample_rng_, self.device_)
            lab = None if y is None else y[s : s + b]
            out.append(self._generate(z, lab).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def sample(self, n: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        self._check_fitted()
        self._check_n(n, labels)
        y_out: np.ndarray | None = None
        y_t = None
        if self.n_classes_:
            if labels is None:
                y_out = (torch.rand(n, generator=self.sample_rng_) < self.prior_).long().numpy()
            else:
                y_out = np.asarray(labels, dtype=np.int64)
                if not np.isin(y_out, [0, 1]).all():
                    raise OptionError(f"generator {self.name!r}: labels must be 0 or 1")
            y_t = torch.as_tensor(y_out, device=self.device_)
        X = to_records(self._raw_sample(int(n), y_t), self.mode_, self.kind_, self._record_draw())
        self.last_sample_ = {}
        if self.present_ is not None:
            frac, count = never_generated(X, self.present_)
            self.last_sample_ = {"never_generated_frac": frac, "never_generated": float(count)}
        return X, y_out

    def diagnostics(self) -> dict[str, float]:
        """Mode collapse on the last ``sample`` call (the share of codes present in training
        that no sampled record holds) and the training budget against the published schedule."""
        return {**getattr(self, "last_sample_", {}), **budget_diagnostics(self)}


def pretrain_autoencoder(
    gen: AdversarialGenerator,
    ae: nn.Module,
    X: torch.Tensor,
    iterations: int,
    batch_size: int,
    opt: torch.optim.Optimizer,
    l2: float = 0.0,
) -> None:
    """Fit an autoencoder to reconstruct the records (medGAN and CorGAN's first phase).

    ``iterations`` updates on shuffled minibatches of ``batch_size`` (an epoch is one pass);
    ``l2`` adds medGAN's ``l2 * sum(w^2) / 2`` to the loss. One history row per epoch,
    ``{"epoch", "phase": "pretrain", "loss_ae"}``; a non-finite loss ends the job.
    """
    n = X.shape[0]
    ae.train()
    done = 0
    epoch = 0
    while done < iterations:
        epoch += 1
        total = torch.zeros((), device=X.device)
        batches = 0
        for idx in minibatches(n, batch_size, gen.rng_):
            xb = X[idx.to(X.device)]
            loss = reconstruction_loss(ae(xb), xb, gen.mode_)
            full = loss + l2_penalty([ae], l2) if l2 else loss
            opt.zero_grad(set_to_none=True)
            full.backward()
            opt.step()
            gen.updates_ += 1
            total += loss.detach()
            batches += 1
            done += 1
            gen._report_progress(done, iterations, "pretrain update")
            if done >= iterations:
                break
        value = float(total) / batches
        check_finite(gen.name, epoch, loss_ae=value)
        gen.history_.append({"epoch": epoch, "phase": "pretrain", "loss_ae": value})


def accumulate(sums: dict[str, torch.Tensor], counts: dict[str, int], stats: dict[str, torch.Tensor]) -> None:
    for k, v in stats.items():
        sums[k] = sums[k] + v if k in sums else v.clone()
        counts[k] = counts.get(k, 0) + 1
