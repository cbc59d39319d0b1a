"""Samplers: small objects that turn a trained noise predictor into records.

Every sampler drives the same callable ``eps_fn(x, t)``: ``x`` has shape ``(k, n, d)`` (``k``
timesteps for ``n`` records) and ``t`` holds the ``k`` integer timestep indices; it returns the
predicted noise with the shape of ``x``. Guidance is folded into ``eps_fn`` by the model, so the
samplers know nothing of labels, and the model knows nothing of sampling.

NFE (network function evaluations) is counted per record. ``nfe`` is *sequential-equivalent*: the
number of network calls that must run one after the other (a batched call over several timesteps
counts once). ``nfe_total`` counts every (record, timestep) evaluation. The two agree for the
sequential samplers; they differ for the fixed-point sampler, whose calls are wide but few.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch

from generators.meddiff.schedule import NoiseSchedule, Spacing

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Sampler(ABC):
    """A reverse-process solver over a :class:`NoiseSchedule`.

    ``steps`` is the number of timesteps of the grid, i.e. the number of sequential network calls
    of the sequential samplers. ``clip`` bounds every clean-data estimate to ``[-clip, clip]``
    (the records live in ``[-1, 1]``); ``None`` leaves them free. ``spacing`` spreads the grid
    (:meth:`NoiseSchedule.grid`; ``uniform`` unless a study asks otherwise) or gives the timesteps
    themselves (a fitted grid); a non-uniform grid whose rounded timesteps coincide is shorter,
    and ``steps`` is then its length.
    """

    name: ClassVar[str] = ""

    def __init__(self, schedule: NoiseSchedule, steps: int, clip: float | None = 1.0,
                 spacing: Spacing = "uniform") -> None:
        if not 1 <= steps <= schedule.T:
            raise ValueError(f"steps must be in 1..{schedule.T}, got {steps}")
        self.schedule = schedule
        self.clip = clip
        self.grid = schedule.grid(int(steps), spacing)
        self.steps = len(self.grid)
        self.nfe = 0
        self.nfe_total = 0

    @abstractmethod
    def __call__(self, eps_fn: EpsFn, x_T: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run the reverse process from the noise ``x_T`` (shape ``(n, d)``); return ``x_0``."""

    def info(self) -> dict[str, float]:
        """Scalars of the last call, for the generator's diagnostics."""
        return {"nfe": float(self.nfe), "nfe_total": float(self.nfe_total), "steps": float(self.steps)}

    # ------------------------------------------------------------------ shared pieces
    def _x0(self, x: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
        """The clean-data estimate ``(x - sqrt(1 - abar) eps) / sqrt(abar)``, clipped."""
        x0 = (x - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()
        return x0 if self.clip is None else x0.clamp(-self.clip, self.clip)

    @staticmethod
    def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A per-timestep vector shaped to broadcast against ``(k, n, d)`` states."""
        return v.to(dtype=like.dtype, device=like.device).view(-1, *([1] * (like.ndim - 1)))

    def _eval(self, eps_fn: EpsFn, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One sequential network call on ``x`` of shape ``(n, d)`` at one timestep."""
        self.nfe += 1
        self.nfe_total += 1
        return eps_fn(x.unsqueeze(0), t.view(1).to(x.device)).squeeze(0)


class DDIMCoefficients:
    """The DDIM step written as ``x_prev = c x + d x0_hat(x, eps) + s z`` (Song et al. 2021).

    With ``sigma = eta sqrt((1 - abar_p)/(1 - abar_t)) sqrt(1 - abar_t / abar_p)`` the direction term
    ``sqrt(1 - abar_p - sigma^2) eps`` is rewritten through ``eps = (x - sqrt(abar_t) x0)/sqrt(1 - abar_t)``,
    which puts the whole step in the form above: ``c <= 1``, so the unrolled products of ``c`` stay well
    conditioned even where ``abar_t`` is ~1e-9, and a clipped ``x0_hat`` enters linearly. ``eta = 1`` is
    the ancestral DDPM step with the posterior variance.
    """

    def __init__(self, schedule: NoiseSchedule, grid: torch.Tensor, eta: float) -> None:
        a_t = schedule.abar(grid)
        a_p = schedule.abar(torch.cat([grid[1:], torch.tensor([-1])]))
        sigma = eta * ((1 - a_p) / (1 - a_t)).sqrt() * (1 - a_t / a_p).clamp(min=0).sqrt()
        direction = (1 - a_p - sigma**2).clamp(min=0).sqrt()
        self.abar_t = a_t
        self.c = direction / (1 - a_t).sqrt()
        self.d = a_p.sqrt() - self.c * a_t.sqrt()
        self.s = sigma


class Ancestral(Sampler):
    """Ancestral DDPM sampling (Ho et al. 2020): the posterior ``q(x_{t-1} | x_t, x0_hat)`` is sampled
    at every step; with ``steps = T`` this is the original 1000-step sampler, with fewer steps the
    same posterior on a respaced grid. Costs ``steps`` NFE."""

    name = "ancestral"

    def __call__(self, eps_fn: EpsFn, x_T: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self.nfe = self.nfe_total = 0
        sched = self.schedule
        a_t_all = sched.abar(self.grid)
        a_p_all = sched.abar(torch.cat([self.grid[1:], torch.tensor([-1])]))
        x = x_T
        for i, t in enumerate(self.grid):
            a_t, a_p = a_t_all[i], a_p_all[i]
            eps = self._eval(eps_fn, x, t)
            x0 = self._x0(x, eps, a_t.to(x.dtype))
            alpha = a_t / a_p  # one (respaced) step's signal retention
            beta = 1 - alpha
            mean = (a_p.sqrt() * beta / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_p) / (1 - a_t)) * x
            mean = mean.to(x.dtype)
            if i < len(self.grid) - 1:
                var = beta * (1 - a_p) / (1 - a_t)
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = mean + var.sqrt().to(x.dtype) * z
            else:
                x = mean
        return x


class DDIM(Sampler):
    """DDIM (Song et al. 2021) on the ``steps`` timesteps of the grid; ``eta = 0`` is the deterministic
    probability-flow-like sampler, ``eta = 1`` matches ancestral sampling. Costs ``steps`` NFE."""

    name = "ddim"

    def __init__(self, schedule: NoiseSchedule, steps: int, eta: float = 0.0, clip: float | None = 1.0,
                 spacing: Spacing = "uniform") -> None:
        super().__init__(schedule, steps, clip, spacing)
        self.eta = float(eta)
        self.coef = DDIMCoefficients(schedule, self.grid, self.eta)
        self.keep_trajectory = False  # set to keep every state of the next call in ``trajectory``
        self.trajectory: torch.Tensor | None = None

    def draw_noise(self, x_T: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
        """The per-step noise ``z`` of a stochastic (``eta > 0``) run, drawn up front so the
        fixed-point sampler can solve the very same trajectory."""
        if self.eta == 0:
            return None
        return torch.randn((self.steps, *x_T.shape), generator=generator, device=x_T.device, dtype=x_T.dtype)

    def __call__(
        self,
        eps_fn: EpsFn,
        x_T: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.nfe = self.nfe_total = 0
        if noise is None:
            noise = self.draw_noise(x_T, generator)
        k = self.coef
        x = x_T
        states = []
        for i, t in enumerate(self.grid):
            eps = self._eval(eps_fn, x, t)
            x0 = self._x0(x, eps, k.abar_t[i].to(x.dtype))
            x = k.c[i].to(x.dtype) * x + k.d[i].to(x.dtype) * x0
            if noise is not None and k.s[i] > 0:
                x = x + k.s[i].to(x.dtype) * noise[i]
            if self.keep_trajectory:
                states.append(x)
        self.trajectory = torch.stack(states) if states else None
        return x


class ParaTAA(DDIM):
    """MedDiff's accelerated sampler: the DDIM trajectory solved as a fixed-point problem with
    triangular Anderson acceleration (ParaTAA, Tang et al. 2024; Anderson mixing as in GDA-AM).

    The unknowns are all ``S`` states ``y_0 .. y_{S-1}`` after the ``S`` DDIM steps (``y_{S-1}`` is the
    sample). Unrolling ``x_prev = c x + d x0_hat + s z`` gives a triangular system
    ``y_k = C_k x_T + sum_{j<=k} W_kj (d_j x0_hat(y_{j-1}, t_j) + s_j z_j)``; its solution is exactly
    the sequential DDIM trajectory (with ``eta > 0``, for the same pre-drawn noise ``z``). One
    iteration evaluates the network at every not-yet-converged timestep in one batched call and
    forms ``g(Y)``:

    * initial guess: the trajectory a constant clean-data estimate ``x0_guess`` (the generator
      passes its mean training record) would give;
    * Picard iteration ``Y <- g(Y)`` makes the first ``i`` states exact after ``i`` iterations, so the
      solver never needs more than ``S`` iterations (it stops at ``S`` with the exact answer);
    * Anderson mixing of the last ``window`` iterates (``window <= 1``: plain Picard):
      ``Y <- g(Y_k) - dG gamma`` with ``gamma = argmin ||F_k - dF gamma||^2 + reg ||gamma||^2`` over
      the differences of the residuals ``F_i = g(Y_i) - Y_i`` (the unconstrained form of
      ``sum beta_i g(Y_i)``, ``sum beta = 1``). It is *triangular*: state ``k`` is mixed with weights
      fitted to the residuals of states ``0..k`` only (those it depends on), per record. The ridge
      ``reg`` (relative to the residual scale) damps the mixing towards Picard; states Picard has
      made exact are kept at their Picard value, which preserves the ``S``-iteration bound;
    * ``max_iter`` (0, the default: ``steps``, where the answer is exact): fewer iterations can
      stop before convergence, which raises a ``RuntimeWarning`` and leaves ``converged`` 0;
    * stopping: the leading states whose residual (root mean square per entry, worst record) is
      at most ``tol`` are final and their network outputs reused, so later iterations evaluate
      fewer timesteps; the solver stops when every state is final.

    NFE: ``nfe`` counts iterations, i.e. batched network calls, in sequential-equivalent units: the
    latency on hardware that evaluates the timesteps of one call in parallel. ``nfe_total`` counts
    every (timestep, record) evaluation per record, the compute on hardware that does not (a CPU):
    it is always at least ``S``, so on a CPU this sampler is slower than sequential DDIM.
    ``iterations``, ``converged`` and ``residual`` describe the last call.
    """

    name = "parataa"

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int,
        eta: float = 0.0,
        window: int = 3,
        tol: float = 1e-3,
        max_iter: int = 0,
        clip: float | None = 1.0,
        triangular: bool = True,
        reg: float = 0.1,
        spacing: Spacing = "uniform",
    ) -> None:
        super().__init__(schedule, steps, eta, clip, spacing)
        self.reg = float(reg)
        self.x0_guess: torch.Tensor | None = None  # e.g. the mean training record, to initialise
        if window < 0 or tol <= 0 or max_iter < 0:
            raise ValueError("window must be >= 0, tol > 0 and max_iter >= 0 (0: steps)")
        self.window = int(window)
        self.tol = float(tol)
        # 0: ``steps`` iterations, the bound at which the solution is exact
        self.max_iter = int(max_iter) if max_iter > 0 else self.steps
        self.triangular = triangular
        c = self.coef.c
        S = self.steps
        # W[k, j] = prod_{l=j+1..k} c_l for j <= k; C[k] = prod_{l=0..k} c_l (float64, then cast)
        logc = torch.log(c.clamp(min=1e-300))
        cum = torch.cumsum(logc, 0)
        diff = cum[:, None] - cum[None, :]
        self.W = torch.where(torch.ones(S, S, dtype=torch.bool).tril(), diff.exp(), torch.zeros((), dtype=torch.float64))
        self.C = cum.exp()
        self.iterations = 0
        self.converged = False
        self.residual = float("nan")

    def info(self) -> dict[str, float]:
        out = super().info()
        out.update(iterations=float(self.iterations), converged=float(self.converged), residual=self.residual)
        return out

    def _g(self, x_T: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """``g(Y)`` from the clean-data estimates of all steps (shape ``(S, n, d)``)."""
        k = self.coef
        U = self._col(k.d, x0) * x0
        if noise is not None:
            U = U + self._col(k.s, x0) * noise
        W = self.W.to(dtype=x0.dtype, device=x0.device)
        return self._col(self.C, x0) * x_T.unsqueeze(0) + torch.einsum("kj,jnd->knd", W, U)

    def _anderson(self, Ys: list[torch.Tensor], Gs: list[torch.Tensor], Fs: list[torch.Tensor] | None = None
                  ) -> torch.Tensor:
        """The Anderson iterate ``G_k - dG gamma`` with ``gamma = argmin ||F_k - dF gamma||^2 +
        reg ||gamma||^2`` over the differences of the last residuals ``F_i = G_i - Y_i`` (the
        unconstrained form of ``sum_i beta_i G_i`` with ``sum beta = 1``). Solved per record and,
        when triangular, per state from the residuals of that state and the states before it. The
        ridge ``reg`` (relative to the residual scale) pulls towards the plain Picard step.
        ``Fs``: the residuals when the caller kept them (each is a state-sized tensor: recomputing
        the window's every iteration allocated and faulted in tens of megabytes)."""
        F = Fs if Fs is not None else [g - y for g, y in zip(Gs, Ys, strict=True)]
        dF = torch.stack([b - a for a, b in zip(F[:-1], F[1:], strict=True)])  # (m-1, S, n, d)
        dG = torch.stack([b - a for a, b in zip(Gs[:-1], Gs[1:], strict=True)])
        Fk = F[-1]
        A = torch.einsum("iknd,jknd->knij", dF, dF).to(torch.float64)  # (S, n, m-1, m-1)
        b = torch.einsum("iknd,knd->kni", dF, Fk).to(torch.float64)  # (S, n, m-1)
        if self.triangular:
            A, b = torch.cumsum(A, 0), torch.cumsum(b, 0)
        else:
            A, b = A.sum(0, keepdim=True).expand_as(A), b.sum(0, keepdim=True).expand_as(b)
        scale = A.diagonal(dim1=-2, dim2=-1).amax(-1, keepdim=True).clamp(min=1e-30)
        eye = torch.eye(A.shape[-1], dtype=torch.float64, device=A.device)
        gamma = torch.linalg.solve(A + (self.reg * scale).unsqueeze(-1) * eye, b.unsqueeze(-1)).squeeze(-1)
        gamma = torch.nan_to_num(gamma, nan=0.0, posinf=0.0, neginf=0.0).to(Fk.dtype)
        return Gs[-1] - torch.einsum("kni,iknd->knd", gamma, dG)

    def __call__(
        self,
        eps_fn: EpsFn,
        x_T: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.nfe = self.nfe_total = 0
        if noise is None:
            noise = self.draw_noise(x_T, generator)
        S = self.steps
        k = self.coef
        a_t = self._col(k.abar_t, x_T.unsqueeze(0))
        t_all = self.grid.to(x_T.device)
        # start from the trajectory a constant clean-data estimate (x0_guess, else 0) would give
        guess = torch.zeros((S, *x_T.shape), dtype=x_T.dtype, device=x_T.device)
        if self.x0_guess is not None:
            guess = guess + self.x0_guess.to(dtype=x_T.dtype, device=x_T.device)
        Y = self._g(x_T, guess, noise)
        x0 = torch.empty_like(Y)
        Ys: list[torch.Tensor] = []
        Gs: list[torch.Tensor] = []
        Fs: list[torch.Tensor] = []
        lo = 0  # steps 0..lo-1 produce converged states from converged inputs: their x0 is reused
        self.converged = False
        for it in range(1, self.max_iter + 1):
            inputs = torch.cat([x_T.unsqueeze(0), Y[:-1]], dim=0)[lo:]
            eps = eps_fn(inputs, t_all[lo:])
            x0[lo:] = self._x0(inputs, eps, a_t[lo:])
            self.nfe += 1
            self.nfe_total += S - lo
            G = self._g(x_T, x0, noise)
            F = G - Y
            res = F.pow(2).mean(dim=-1).sqrt().amax(dim=-1)  # (S,): worst record per state
            self.residual = float(res.max())
            ok = (res <= self.tol).to(torch.int64)
            lead = int(torch.cumprod(ok, 0).sum())
            if lead == S or it >= S:
                # all residuals small, or `it >= S`: the first `it` states of g(Y) are exact
                # (Picard's triangular property, kept by the safeguard below), so g(Y) is the answer
                Y = G
                self.converged = True
                break
            # exact prefix: after `it` Picard-consistent updates the first `it` states are exact
            exact = max(lead, it)
            if self.window > 0:
                Ys.append(Y)
                Gs.append(G)
                Fs.append(F)
                Ys, Gs, Fs = Ys[-self.window :], Gs[-self.window :], Fs[-self.window :]
                Y_new = self._anderson(Ys, Gs, Fs) if len(Gs) > 1 else G
            else:
                Y_new = G
            Y_new[:exact] = G[:exact]
            Y = Y_new
            lo = lead
        if not self.converged:
            warnings.warn(
                f"ParaTAA stopped after max_iter={self.max_iter} iterations without converging "
                f"(largest residual {self.residual:.3g} > tol={self.tol:g}; {S} steps need at most "
                f"{S} iterations): the sample is not the DDIM trajectory; raise max_iter",
                RuntimeWarning,
                stacklevel=2,
            )
        self.iterations = self.nfe
        self.trajectory = Y
        return Y[-1]


class DPMSolverPP2M(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022): a second-order multistep solver of the diffusion ODE in
    data-prediction form, ``x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) D`` with
    ``h = lambda_t - lambda_s`` (lambda the half log-SNR) and ``D`` the clipped clean-data estimate
    extrapolated from the last two network calls. The first step is first order and the last step
    (to clean data, ``lambda = inf``) takes the clean-data estimate. Costs ``steps`` NFE; the
    deterministic peer of the fixed-point sampler."""

    name = "dpmpp2m"

    def __call__(self, eps_fn: EpsFn, x_T: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self.nfe = self.nfe_total = 0
        sched = self.schedule
        a = sched.abar(self.grid)
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        lam = alpha.log() - sigma.log()
        x = x_T
        prev_D: torch.Tensor | None = None
        prev_h: float | None = None
        S = len(self.grid)
        for i, t in enumerate(self.grid):
            eps = self._eval(eps_fn, x, t)
            D = self._x0(x, eps, a[i].to(x.dtype))
            if i == S - 1:
                x = D
                break
            h = float(lam[i + 1] - lam[i])
            if prev_D is None or prev_h is None:
                Dm = D
            else:
                r = prev_h / h
                Dm = (1 + 1 / (2 * r)) * D - (1 / (2 * r)) * prev_D
            ratio = float(sigma[i + 1] / sigma[i])
            x = ratio * x - float(alpha[i + 1]) * math.expm1(-h) * Dm
            prev_D, prev_h = D, h
        return x


SAMPLERS = ("parataa", "ddim", "ancestral", "dpmpp2m")
#: each sampler's ``(steps, spacing)`` where a generator's options leave them unset, so naming a
#: sampler alone gets that sampler's own set-up: DPM-Solver++(2M) six calls on the tuned grid
#: (MedDiff's default since 2026-12-07), the others twenty steps on the uniform grid
SAMPLER_DEFAULTS = {"dpmpp2m": (6, "tuned"), "ddim": (20, "uniform"), "parataa": (20, "uniform"),
                    "ancestral": (20, "uniform")}


def sampler_setup(name: str, steps: int | None, spacing: Spacing | None) -> tuple[int, Spacing]:
    """``(steps, spacing)`` as given, an unset (None) one sampler ``name``'s own (``SAMPLER_DEFAULTS``)."""
    own_steps, own_spacing = SAMPLER_DEFAULTS[name]
    return (own_steps if steps is None else steps, own_spacing if spacing is None else spacing)


def make_sampler(
    name: str,
    schedule: NoiseSchedule,
    steps: int,
    eta: float = 0.0,
    window: int = 3,
    tol: float = 1e-3,
    max_iter: int = 0,
    clip: float | None = 1.0,
    x0_guess: torch.Tensor | None = None,
    spacing: Spacing = "uniform",
) -> Sampler:
    """The sampler ``name`` over ``schedule``; ``ancestral`` uses ``steps`` grid points (``T`` for
    the original sampler); ``spacing`` spreads the grid (``SPACINGS``; :meth:`NoiseSchedule.grid`
    refuses any other)."""
    if name == "ancestral":
        return Ancestral(schedule, steps, clip, spacing)
    if name == "ddim":
        return DDIM(schedule, steps, eta, clip, spacing)
    if name == "parataa":
        solver = ParaTAA(schedule, steps, eta, window, tol, max_iter, clip, spacing=spacing)
        solver.x0_guess = x0_guess
        return solver
    if name == "dpmpp2m":
        return DPMSolverPP2M(schedule, steps, clip, spacing)
    raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
