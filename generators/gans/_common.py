"""Pieces shared by the EHR GANs: networks, losses, the adversarial loop, sampling, diagnostics.

The GANs differ in a handful of places (the critic's loss, what the generator's output passes
through, whether the critic is privatised), so one loop lives here and each model overrides
only the step that makes it what it is. Keeping the loop in one place means that every model
counts epochs, draws batches, logs losses and reports mode collapse the same way, which is
what makes their rows in a table comparable.

Conventions shared by every model in this package:

* An *epoch* is ``ceil(n_records / batch_size)`` generator updates, each preceded by
  ``d_steps`` critic updates; every update draws a fresh random batch of
  ``min(batch_size, n_records)`` distinct records (medGAN's own scheme), so batch-norm layers
  never see a batch of one record.
* Weights are initialised under a private copy of torch's global RNG seeded from
  ``random_state`` (``None`` counts as 0, like :func:`generators._torch.torch_generator`), and
  every draw during training and sampling comes from private ``torch.Generator`` objects, so a
  seed fixes the numbers on CPU whatever ran before.
* Batch-norm statistics used for sampling are re-estimated after training from fresh noise
  batches (cumulative average), then the generator runs in eval mode. A short run would
  otherwise sample with running averages that still remember the first updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from generators._torch import check_finite, minibatches, resolve_device, to_tensor, torch_generator
from generators.base import Generator, check_choice, check_positive

MODES = ("auto", "binary", "count")
SAMPLE_CHUNK = 10_000
BN_CALIBRATION_BATCHES = 10


# ---------------------------------------------------------------------------- validation helpers
def check_non_negative(gen: Generator, *names: str) -> None:
    """A hyperparameter that may be zero (an L2 weight, a penalty) but not negative."""
    for name in names:
        v = getattr(gen, name)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not v >= 0:
            raise OptionError(f"generator {gen.name!r}: option {name!r} must be a number >= 0, got {v!r}")


def check_dims(gen: Generator, *names: str) -> None:
    """Layer widths: a non-empty tuple of positive integers (written ``256-128`` as an option)."""
    for name in names:
        v = getattr(gen, name)
        ok = isinstance(v, (tuple, list)) and len(v) > 0 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in v
        )
        if not ok:
            raise OptionError(
                f"generator {gen.name!r}: option {name!r} must be positive layer widths such as "
                f"256-128, got {v!r}"
            )


def check_device(gen: Generator) -> None:
    """Fail before any work when the device is malformed or CUDA is asked for but absent."""
    device = getattr(gen, "device", "cpu")
    if not isinstance(device, str):
        raise OptionError(f"generator {gen.name!r}: option 'device' must be a string, got {device!r}")
    resolve_device(device)


def check_mode(gen: Generator) -> None:
    check_choice(gen, "mode", MODES)


def resolve_mode(gen: Generator, data: EHRDataset) -> str:
    """``auto`` follows the data. A binary model cannot represent counts, so that pairing is an
    error rather than a silent binarisation; a count model on binary data is allowed (its
    samples are clipped to {0, 1}, see :func:`to_records`)."""
    mode = getattr(gen, "mode", "auto")
    if mode == "auto":
        return data.kind
    if mode == "binary" and data.kind == "count":
        raise OptionError(
            f"generator {gen.name!r}: mode='binary' cannot model count data (dataset {data.name!r}); "
            "use mode=count or mode=auto"
        )
    return mode


# ---------------------------------------------------------------------------- randomness
@contextmanager
def seeded_init(random_state: int | None) -> Iterator[None]:
    """Build modules under a private copy of the global CPU RNG so that initial weights depend
    on ``random_state`` only, and the caller's global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if random_state is None else int(random_state))
        yield


def random_batch(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """``min(batch_size, n)`` distinct record indices."""
    idx = torch.randperm(n, generator=gen)[: min(batch_size, n)]
    return idx.to(device)


def noise(n: int, dim: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(n, dim, generator=gen).to(device)


def param_groups(modules: list[nn.Module], l2: float) -> list[dict[str, Any]]:
    """Weight matrices get the L2 penalty, biases and norm scales do not (as in medGAN, whose
    ``l2_regularizer(scale)`` adds ``scale * ||W||^2 / 2`` per weight matrix; its gradient is
    exactly torch's ``weight_decay=scale``)."""
    decay, plain = [], []
    for m in modules:
        for p in m.parameters():
            (decay if p.ndim > 1 else plain).append(p)
    groups = [{"params": decay, "weight_decay": l2}]
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return groups


# ---------------------------------------------------------------------------- networks
class LinearAutoencoder(nn.Module):
    """medGAN's autoencoder: one layer to the code and one back.

    Binary: tanh code, sigmoid output, trained with binary cross-entropy. Counts: ReLU code,
    ReLU output, trained with mean squared error.
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


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "binary":
        return F.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), x)
    return F.mse_loss(recon, x)


class ShortcutGenerator(nn.Module):
    """medGAN's generator: per layer ``h = act(BatchNorm(W h)) + h`` with no bias.

    Hidden layers use ReLU. The last layer uses tanh in binary mode and ReLU in count mode, the
    range of the encoder's code that the decoder was pre-trained on. A layer whose width differs
    from its input has no shortcut (the published widths all equal the noise size, 128).
    Batch-norm momentum 0.01 is medGAN's decay of 0.99.
    """

    def __init__(self, in_dim: int, dims: tuple[int, ...], mode: str) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        prev = in_dim
        for d in dims:
            self.linears.append(nn.Linear(prev, d, bias=False))
            self.norms.append(nn.BatchNorm1d(d, momentum=0.01))
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


# ---------------------------------------------------------------------------- losses
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


# ---------------------------------------------------------------------------- records
def to_records(raw: np.ndarray, mode: str, data_kind: str) -> np.ndarray:
    """Network outputs to records of the data's kind.

    Binary mode rounds probabilities at 0.5 (medGAN's rule). Count mode rounds to the nearest
    non-negative integer; on binary data its output is clipped to 1 so records stay binary.
    """
    if mode == "binary":
        return (raw >= 0.5).astype(np.float32)
    X = np.clip(np.rint(raw), 0, None)
    if data_kind == "binary":
        X = np.minimum(X, 1)
    return X.astype(np.float32)


def never_generated(X: np.ndarray, present: np.ndarray) -> tuple[float, int]:
    """Mode collapse made visible: among codes present in the training data, the fraction (and
    number) that no sampled record holds."""
    absent = present & ~(X > 0).any(axis=0)
    n_present = int(present.sum())
    return (float(absent.sum()) / n_present if n_present else 0.0), int(absent.sum())


# ---------------------------------------------------------------------------- the shared model
class AdversarialGenerator(Generator):
    """The adversarial loop shared by the EHR GANs; subclasses build the networks.

    Subclasses set ``loss`` (``gan``, ``bgan``, ``wgan-gp`` or ``wgan-clip``) and implement
    :meth:`_build` (networks and optimisers) and, if they pre-train, :meth:`_pretrain`. DPGAN
    overrides :meth:`_critic_update` to privatise the critic.
    """

    loss: ClassVar[str] = "gan"
    supports_conditioning: ClassVar[bool] = False

    # set by the subclasses' __init__
    epochs: int
    batch_size: int
    d_steps: int
    device: str
    random_state: int | None

    # ------------------------------------------------------------------ fit
    def fit(self, data: EHRDataset) -> AdversarialGenerator:
        self.fitted_ = False  # a failed refit must not leave the old model usable
        self.validate_params()
        self._check_data(data)
        self.mode_ = resolve_mode(self, data) if hasattr(self, "mode") else data.kind
        self.kind_ = data.kind
        self.n_codes_ = data.n_codes
        self.device_ = resolve_device(self.device)
        self.present_ = (data.X > 0).any(axis=0)
        self.history_: list[dict[str, Any]] = []
        self.rng_ = torch_generator(self.random_state)
        conditional = bool(self.supports_conditioning) and data.y is not None
        self.n_classes_ = 2 if conditional else 0
        self.prior_ = float(data.y.mean()) if conditional else None
        X = to_tensor(data.X, self.device_)
        y = torch.as_tensor(data.y, device=self.device_) if conditional else None
        with seeded_init(self.random_state):
            self._build(data.n_codes)
        self._pretrain(X)
        self._adversarial(X, y)
        self._calibrate_batchnorm()
        self.generator_.eval()
        seed = 0 if self.random_state is None else int(self.random_state)
        self.sample_rng_ = torch_generator(seed + 7919)  # sampling draws do not depend on training length
        self.last_sample_: dict[str, float] = {}
        self.fitted_ = True
        return self

    def _build(self, n_codes: int) -> None:
        """Create ``generator_`` (noise [+ label] -> data space), ``critic_``, ``opt_g_``,
        ``opt_d_`` and ``noise_dim_``."""
        raise NotImplementedError

    def _pretrain(self, X: torch.Tensor) -> None:
        """Optional phase before the adversarial one (medGAN's autoencoder)."""

    # ------------------------------------------------------------------ pieces
    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y.long(), self.n_classes_).float()

    def _generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is not None and self.n_classes_:
            z = torch.cat([z, self._onehot(y)], dim=1)
        return self.generator_(z)

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

    def _critic_update(
        self, X: torch.Tensor, y: torch.Tensor | None, n: int
    ) -> dict[str, torch.Tensor]:
        idx = random_batch(n, self.batch_size, self.rng_, self.device_)
        real = X[idx]
        lab = None if y is None else y[idx]
        with torch.no_grad():
            fake = self._generate(noise(real.shape[0], self.noise_dim_, self.rng_, self.device_), lab)
        loss, stats = self._critic_loss(real, fake, lab)
        self.opt_d_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d_.step()
        if self.loss == "wgan-clip":
            clip = float(self.clip_value)  # type: ignore[attr-defined]
            with torch.no_grad():
                for p in self.critic_.parameters():
                    p.clamp_(-clip, clip)
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
        self.opt_g_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g_.step()
        return {"loss_g": loss.detach()}

    def _adversarial(self, X: torch.Tensor, y: torch.Tensor | None) -> None:
        n = X.shape[0]
        steps = math.ceil(n / min(self.batch_size, n))
        self.generator_.train()
        self.critic_.train()
        for epoch in range(1, self.epochs + 1):
            sums: dict[str, torch.Tensor] = {}
            counts: dict[str, int] = {}
            for _ in range(steps):
                for _ in range(self.d_steps):
                    _accumulate(sums, counts, self._critic_update(X, y, n))
                _accumulate(sums, counts, self._generator_update(y, n))
            row = {k: float(v) / counts[k] for k, v in sums.items()}
            check_finite(self.name, epoch, **row)
            self.history_.append({"epoch": epoch, "phase": "gan", **row})
            self._end_epoch(epoch)

    def _end_epoch(self, epoch: int) -> None:
        """Hook after each adversarial epoch (DPGAN's accountant)."""

    @torch.no_grad()
    def _calibrate_batchnorm(self) -> None:
        norms = [m for m in self.generator_.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        self.generator_.train()
        b = max(2, min(self.batch_size, 1000))
        for _ in range(BN_CALIBRATION_BATCHES):
            z = noise(b, self.noise_dim_, self.rng_, self.device_)
            lab = None
            if self.n_classes_:
                lab = (torch.rand(b, generator=self.rng_) < self.prior_).long().to(self.device_)
            self._generate(z, lab)
        for m, mom in zip(norms, saved, strict=True):
            m.momentum = mom

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
        X = to_records(self._raw_sample(int(n), y_t), self.mode_, self.kind_)
        frac, count = never_generated(X, self.present_)
        self.last_sample_ = {"never_generated_frac": frac, "never_generated": float(count)}
        return X, y_out

    def diagnostics(self) -> dict[str, float]:
        """Mode collapse on the last ``sample`` call: the share of codes present in training
        that no sampled record holds."""
        return dict(getattr(self, "last_sample_", {}))


def pretrain_autoencoder(
    gen: AdversarialGenerator, ae: nn.Module, X: torch.Tensor, epochs: int, batch_size: int, lr: float, l2: float
) -> None:
    """Fit an autoencoder to reconstruct the records (medGAN and CorGAN's first phase).

    One history row per epoch, ``{"epoch", "phase": "pretrain", "loss_ae"}``, beside the
    adversarial rows; a non-finite loss ends the job like an adversarial one.
    """
    opt = torch.optim.Adam(param_groups([ae], l2), lr=lr)
    n = X.shape[0]
    ae.train()
    for epoch in range(1, epochs + 1):
        total = torch.zeros((), device=X.device)
        batches = 0
        for idx in minibatches(n, batch_size, gen.rng_):
            xb = X[idx.to(X.device)]
            loss = reconstruction_loss(ae(xb), xb, gen.mode_)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            batches += 1
        value = float(total) / batches
        check_finite(gen.name, epoch, loss_ae=value)
        gen.history_.append({"epoch": epoch, "phase": "pretrain", "loss_ae": value})


def _accumulate(sums: dict[str, torch.Tensor], counts: dict[str, int], stats: dict[str, torch.Tensor]) -> None:
    for k, v in stats.items():
        sums[k] = sums[k] + v if k in sums else v.clone()
        counts[k] = counts.get(k, 0) + 1


def validate_common(gen: Generator, ints: tuple[str, ...], floats: tuple[str, ...]) -> None:
    """The checks every GAN shares: positive integers, positive rates, a usable device."""
    check_positive(gen, *ints)
    check_positive(gen, *floats, integer=False)
    check_device(gen)
