"""EHRDiff (Yuan, Zhou & Yu, 2023): an EDM-preconditioned MLP diffusion model on binary code vectors.

The generator owns the training loop (EDM loss, AdamW, warm-up + cosine schedule, EMA) and the
optional classifier-free guidance; the reverse process is the :class:`HeunSampler` object, which
only sees a denoising callable.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.data import EHRDataset
from bench.core.departures import Departures
from bench.core.errors import GeneratorError, OptionError
from generators._torch import (
    check_finite,
    minibatches,
    resolve_device,
    to_tensor,
    torch_generator,
    warmup_cosine,
)
from generators.base import Generator, check_positive
from generators.ehrdiff.network import EDMDenoiser, EHRDiffMLP
from generators.ehrdiff.sampler import HeunSampler

PUBLISHED_EPOCHS = 5000


class EHRDiff(Generator):
    """EHRDiff: EDM diffusion (Karras et al. 2022) on binary code vectors with an MLP denoiser.

    Yuan, Zhou & Yu. *EHRDiff: Exploring realistic EHR synthesis with diffusion models.* arXiv
    2303.05656 (2023); public code sczzz3/EHRDiff (its MIMIC EDM configuration).

    Published defaults kept here: the records are used as they are (0/1, no rescaling);
    MLP ``d -> 1024 -> 384 -> 384 -> 384 -> 1024 -> d`` (``unit_dims``) with ReLU and a 384-d noise
    embedding (``time_dim``) added before every layer; EDM preconditioning with
    ``sigma_data=0.14``; training noise ``ln sigma ~ N(p_mean=-1.2, p_std=1.2)``; EDM loss weight
    ``(sigma^2 + sd^2)/(sigma sd)^2`` on the squared error, averaged over codes and records;
    AdamW ``lr=3e-4``, ``weight_decay=0``; linear warm-up over ``warmup_steps=20000`` updates then
    a cosine decay to 0 over the planned updates; ``batch_size=1024`` (the last batch of an epoch
    may be smaller); ``epochs=5000``; EMA of the weights with ``ema_decay=0.999`` (used for
    sampling); deterministic Heun sampler on EDM's grid, ``steps=32``, ``rho=7``,
    ``sigma_min=0.02``, ``sigma_max=80``; samples clipped to ``[0, 1]`` and rounded.

    Assumed (not in the material this project works from): the EMA's decay is warmed up as
    ``min(ema_decay, (1 + k)/(10 + k))`` after ``k`` updates (score_sde's EMA helper, which the
    public code's EMA class appears to follow); without it a short run samples mostly the initial
    weights.

    Label: the published MIMIC model is unconditional (``conditional=False``; the harness then
    appends the label as a column). ``conditional=True`` adds the public code's label embedding,
    trained with the label replaced by "no label" with probability ``label_dropout=0.1``, and
    ``sample`` honours the labels it is given (drawn from the training prevalence otherwise).
    ``guidance_scale=w`` (0, off, by default) samples with ``(1 + w) D(x, y) - w D(x, none)``.

    Schedule: ``max_updates`` caps the optimiser updates (the suite's equal-budget mode; the
    cosine then runs over the capped length); ``schedule_fraction_`` is the epochs run over the
    published 5,000. The published warm-up is sized for MIMIC-III (about 45 updates an epoch,
    ~200k updates, so the warm-up is about a tenth of the run). ``warmup_fraction > 0`` replaces
    ``warmup_steps`` by that fraction of this run's updates, so a shortened schedule keeps the
    published shape (warm-up a tenth, then the cosine); with 20,000 fixed steps a run of a few
    hundred updates would never get past a tiny learning rate.

    Presets: ``cpu`` keeps the published network, batch and sampler and shortens training to
    ``epochs=200`` (600 updates on eunomia's 2,155 training records, ~4 % of the published
    epochs) with ``warmup_fraction=0.1``; ``quick`` (a narrower network, 60 small-batch epochs,
    8 sampler steps) is for tests and smoke runs, not for results. On eunomia the published
    schedule is 15,000 updates, shorter than its own 20,000-step warm-up.

    Binary data only (the published model; the rounding decodes presence). The CUDA path
    (``device='cuda'``) ran once on an H200 (fit and sample; docs/generators.md).
    """

    name = "ehrdiff"
    supported_kinds: ClassVar[tuple[str, ...]] = ("binary",)
    reference = "Yuan, Zhou & Yu, arXiv 2303.05656 (2023); EDM: Karras et al., NeurIPS 2022"
    departures = Departures(
        changes=("EMA decay warmed up as min(decay, (1 + k)/(10 + k)) (assumed: not in the published material)",),
        presets={"cpu": "learning-rate warm-up over the first 10% of this run's updates (warmup_fraction 0.1) in "
                        "place of the published 20,000 steps, which exceed the whole shortened run",
                 "quick": "narrower network (256-128-128-256), small batches, warm-up over 10% of the updates"})
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"epochs": 200, "warmup_fraction": 0.1},
        "quick": {
            "unit_dims": (256, 128, 128, 256),
            "time_dim": 128,
            "epochs": 60,
            "batch_size": 128,
            "warmup_fraction": 0.1,
            "lr": 1e-3,
            "steps": 8,
        },
    }

    def __init__(
        self,
        unit_dims: tuple[int, ...] = (1024, 384, 384, 384, 1024),
        time_dim: int = 384,
        class_dim: int = 128,
        sigma_data: float = 0.14,
        sigma_min: float = 0.02,
        sigma_max: float = 80.0,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        epochs: int = PUBLISHED_EPOCHS,
        batch_size: int = 1024,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 20000,
        warmup_fraction: float = 0.0,
        ema_decay: float = 0.999,
        max_updates: int | None = None,
        conditional: bool = False,
        label_dropout: float = 0.1,
        guidance_scale: float = 0.0,
        steps: int = 32,
        rho: float = 7.0,
        sample_batch: int = 4096,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.unit_dims = unit_dims
        self.time_dim = time_dim
        self.class_dim = class_dim
        self.sigma_data = sigma_data
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.p_mean = p_mean
        self.p_std = p_std
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.warmup_fraction = warmup_fraction
        self.ema_decay = ema_decay
        self.max_updates = max_updates
        self.conditional = conditional
        self.label_dropout = label_dropout
        self.guidance_scale = guidance_scale
        self.steps = steps
        self.rho = rho
        self.sample_batch = sample_batch
        self.device = device
        self.random_state = random_state

    @property  # type: ignore[override]
    def supports_conditioning(self) -> bool:
        """Per instance: only the label-conditional variant generates records for given labels."""
        return bool(self.conditional)

    # ------------------------------------------------------------------ validation
    def _bad(self, option: str, why: str) -> OptionError:
        return OptionError(f"generator {self.name!r}: option {option}={getattr(self, option)!r} {why}")

    def validate_params(self) -> None:
        check_positive(self, "time_dim", "class_dim", "epochs", "batch_size", "warmup_steps", "steps", "sample_batch")
        check_positive(self, "sigma_data", "sigma_min", "sigma_max", "p_std", "lr", "rho", integer=False)
        dims = self.unit_dims
        if (
            not isinstance(dims, (tuple, list))
            or not dims
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in dims)
        ):
            raise self._bad("unit_dims", "must be positive integers joined by '-' (e.g. 1024-384-384-384-1024)")
        if self.sigma_min >= self.sigma_max:
            raise self._bad("sigma_min", f"must be below sigma_max={self.sigma_max!r}")
        for opt in ("p_mean",):
            v = getattr(self, opt)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise self._bad(opt, "must be a finite number")
        for opt, lo, hi in (("ema_decay", 0.0, 1.0), ("label_dropout", 0.0, 1.0), ("warmup_fraction", 0.0, 1.0)):
            v = getattr(self, opt)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v < hi:
                raise self._bad(opt, f"must be a number in [{lo}, {hi})")
        for opt in ("weight_decay", "guidance_scale"):
            v = getattr(self, opt)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise self._bad(opt, "must be a non-negative number")
        if self.max_updates is not None:
            check_positive(self, "max_updates")
        if not isinstance(self.conditional, bool):
            raise self._bad("conditional", "must be true or false")
        if self.guidance_scale > 0 and not self.conditional:
            raise self._bad("guidance_scale", "needs conditional=true (guidance mixes the label-conditional model)")
        if self.guidance_scale > 0 and self.label_dropout == 0:
            raise self._bad(
                "guidance_scale", "needs label_dropout > 0 (the unconditional model is learned from dropped labels)"
            )
        resolve_device(self.device)

    # ------------------------------------------------------------------ training
    def _build(self) -> EDMDenoiser:
        n_classes = 2 if self.conditional else 0
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG untouched
            torch.manual_seed(0 if self.random_state is None else int(self.random_state))
            net = EHRDiffMLP(self.n_codes_, tuple(int(v) for v in self.unit_dims), self.time_dim, n_classes, self.class_dim)
        return EDMDenoiser(net, self.sigma_data).to(self.device_)

    def fit(self, data: EHRDataset) -> EHRDiff:
        self.validate_params()
        self._check_data(data)
        if self.conditional and data.y is None:
            raise self._bad("conditional", f"needs a labelled dataset, but {data.name!r} has no label")
        self.n_codes_ = data.n_codes
        self.device_ = dev = resolve_device(self.device)
        self.prior_ = float(data.y.mean()) if self.conditional and data.y is not None else None
        self.rng_ = torch_generator(self.random_state, dev)  # noise, labels, sampling
        perm_rng = torch_generator(self.random_state, "cpu")  # batch order (randperm runs on the CPU)
        model = self._build()
        ema = copy.deepcopy(model).requires_grad_(False)

        X = to_tensor(data.X, dev)
        y = torch.as_tensor(data.y, dtype=torch.long, device=dev) if self.conditional and data.y is not None else None
        n = X.shape[0]
        bs = min(self.batch_size, n)
        per_epoch = math.ceil(n / bs)
        planned = self.epochs * per_epoch
        total = planned if self.max_updates is None else min(planned, int(self.max_updates))
        warmup = round(self.warmup_fraction * total) if self.warmup_fraction > 0 else int(self.warmup_steps)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, total))
        ema_p, net_p = list(ema.parameters()), list(model.parameters())

        self.history_: list[dict[str, float]] = []
        step = 0
        model.train()
        for epoch in range(1, self.epochs + 1):
            loss_sum, seen = 0.0, 0
            for idx in minibatches(n, bs, perm_rng):
                if step >= total:
                    break
                idx = idx.to(dev)
                x0 = X[idx]
                b = x0.shape[0]
                sigma = (self.p_mean + self.p_std * torch.randn(b, generator=self.rng_, device=dev)).exp()
                noisy = x0 + sigma[:, None] * torch.randn(x0.shape, generator=self.rng_, device=dev)
                yb = None
                if y is not None:
                    yb = y[idx].clone()
                    drop = torch.rand(b, generator=self.rng_, device=dev) < self.label_dropout
                    yb[drop] = model.null_label
                err = (model(noisy, sigma, yb) - x0) ** 2
                loss = (model.loss_weight(sigma) * err.mean(dim=1)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                self._report_progress(step, total, "update")
                decay = min(self.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    torch._foreach_lerp_(ema_p, net_p, 1 - decay)
                loss_sum += float(loss.detach()) * b
                seen += b
            if seen == 0:
                break
            rec = {"epoch": epoch, "loss": loss_sum / seen, "lr": float(sched.get_last_lr()[0]), "updates": step}
            check_finite(self.name, epoch, loss=rec["loss"])
            self.history_.append(rec)
        ema.eval()
        self.model_ = ema
        self.n_updates_ = step
        self.warmup_updates_ = warmup
        self.schedule_fraction_ = float(step / per_epoch / PUBLISHED_EPOCHS)
        self.diagnostics_: dict[str, float] = {}
        self.fitted_ = True
        return self

    # ------------------------------------------------------------------ sampling
    def make_sampler(self, steps: int | None = None) -> HeunSampler:
        return HeunSampler(steps or self.steps, self.sigma_min, self.sigma_max, self.rho)

    def denoise_fn(self, labels: torch.Tensor | None):
        """``D(x, sigma)`` for records with ``labels``, guidance folded in: the sampler's input."""
        net, w = self.model_, float(self.guidance_scale)

        def fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                if labels is None or w == 0:
                    return net(x, sigma, labels)
                null = torch.full_like(labels, net.null_label)
                both = net(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([labels, null]))
                cond, uncond = both.chunk(2)
                return (1 + w) * cond - w * uncond

        return fn

    def sample(
        self, n: int, labels: np.ndarray | None = None, sampler: HeunSampler | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` records (and their labels when conditional; ``None`` otherwise)."""
        self._check_fitted()
        self._check_n(n, labels)
        dev = self.device_
        y: np.ndarray | None = None
        if self.conditional:
            if labels is None:
                assert self.prior_ is not None
                y = (torch.rand(n, generator=self.rng_, device=dev) < self.prior_).long().cpu().numpy()
            else:
                y = np.asarray(labels)
                if not np.isin(y, [0, 1]).all():
                    raise OptionError(f"generator {self.name!r}: labels must be 0/1")
                y = y.astype(np.int64)
        smp = sampler or self.make_sampler()
        out = []
        for s in range(0, n, self.sample_batch):
            m = min(self.sample_batch, n - s)
            yb = None if y is None else torch.as_tensor(y[s : s + m], device=dev)
            z = torch.randn((m, self.n_codes_), generator=self.rng_, device=dev)
            out.append(smp(self.denoise_fn(yb), z).cpu().numpy())
        Z = np.concatenate(out, axis=0)
        if not np.isfinite(Z).all():
            raise GeneratorError(f"generator {self.name!r}: the sampler produced non-finite values")
        nfe = float(smp.nfe) * (2.0 if y is not None and self.guidance_scale > 0 else 1.0)
        self.diagnostics_ = {"nfe": nfe, "steps": float(smp.steps)}
        return np.rint(np.clip(Z, 0.0, 1.0)).astype(np.float32), y

    def diagnostics(self) -> dict[str, float]:
        """Network evaluations per record of the last ``sample`` (``nfe``; doubled with guidance),
        the updates run and the fraction of the published schedule."""
        out = dict(getattr(self, "diagnostics_", {}))
        if getattr(self, "fitted_", False):
            out.update(updates=float(self.n_updates_), schedule_fraction=self.schedule_fraction_)
        return out
