"""DPGAN's guarantee: opacus' per-record clipping, the accountant's epsilon for the updates
run, CSPRNG noise in release mode, nothing unnoised about the records in what it reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from bench.datasets.toy import make_toy
from generators import registry
from generators.gans._dp import dp_epsilon, secure_normal, secure_uniform
from generators.gans.dpgan import DPGAN

SMALL = {"epochs": 1, "batch_size": 32, "d_steps": 2, "noise_dim": 8, "gen_dims": (8, 8), "disc_dims": (16,)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def data() -> EHRDataset:
    return make_toy(n_records=160, n_codes=12, seed=1)


def test_opacus_machinery_does_the_privatising(data: EHRDataset) -> None:
    from opacus.grad_sample import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gen = DPGAN(**SMALL, random_state=0).fit(data)
    assert isinstance(gen.critic_, GradSampleModule)
    assert isinstance(gen.opt_d_, DPOptimizer)


def test_each_records_clipped_gradient_is_within_the_bound(data: EHRDataset) -> None:
    """An outlier record with a huge gradient moves the clipped sum by at most max_grad_norm,
    and its unclipped gradient is far beyond it (so the bound is what holds it)."""
    counts = make_toy(n_records=40, n_codes=12, seed=3, kind="count")
    X = counts.X.copy()
    X[-1] = 1000.0  # the outlier
    with_outlier = EHRDataset(X=X, y=None, columns=counts.columns, names=counts.names, kind="count", name="c")
    without = EHRDataset(X=X[:-1], y=None, columns=counts.columns, names=counts.names, kind="count", name="c")
    sums: dict[str, list[torch.Tensor]] = {"with": [], "without": []}

    def capture(key: str):  # type: ignore[no-untyped-def]
        class Capturing(DPGAN):
            def _poisson(self, n: int) -> torch.Tensor:
                return torch.ones(n, dtype=torch.bool)  # every record in every batch

            def _build(self, n_codes: int) -> None:
                super()._build(n_codes)
                opt = self.opt_d_
                original = opt.add_noise

                def add_noise() -> None:
                    sums[key].append(torch.cat([p.summed_grad.flatten().clone() for p in opt.params]))
                    original()

                opt.add_noise = add_noise  # type: ignore[method-assign]

        return Capturing

    params = {**SMALL, "batch_size": 16, "d_steps": 1, "max_grad_norm": 0.5}
    capture("with")(**params, max_updates=2, random_state=0).fit(with_outlier)
    capture("without")(**params, max_updates=2, random_state=0).fit(without)
    diff = float((sums["with"][0] - sums["without"][0]).norm())
    assert 1e-4 < diff <= 0.5 * (1 + 1e-4)

    # the same record's gradient unclipped is far beyond the bound
    gen = DPGAN(**params, max_updates=2, random_state=0).fit(with_outlier)
    gen.critic_.disable_hooks()
    critic = gen.critic_._module
    critic.zero_grad()
    (-critic(torch.as_tensor(X[-1:]))).sum().backward()
    raw = torch.sqrt(sum((p.grad**2).sum() for p in critic.parameters()))
    assert float(raw) > 10 * 0.5


def test_epsilon_is_the_accountants_for_the_updates_run(data: EHRDataset) -> None:
    from opacus.accountants import RDPAccountant

    gen = DPGAN(**SMALL, max_updates=10, random_state=0).fit(data)
    q = 32 / data.n_records
    steps = gen.dp_steps_
    assert 0 < steps < 10  # the budget cut the schedule; critic updates are counted, not planned
    acc = RDPAccountant()
    for _ in range(steps):
        acc.step(noise_multiplier=2.0, sample_rate=q)
    assert gen.diagnostics()["epsilon"] == pytest.approx(acc.get_epsilon(delta=1e-5))
    assert gen.diagnostics()["epsilon"] == pytest.approx(dp_epsilon(2.0, q, steps, 1e-5))


def test_benchmark_mode_is_reproducible_and_labelled_nominal(data: EHRDataset) -> None:
    a = DPGAN(**SMALL, random_state=0).fit(data)
    b = DPGAN(**SMALL, random_state=0).fit(data)
    np.testing.assert_array_equal(a.sample(30)[0], b.sample(30)[0])
    assert a.diagnostics()["epsilon_nominal"] == 1.0


def test_release_mode_draws_different_noise_on_every_run(data: EHRDataset) -> None:
    a = DPGAN(**SMALL, release=True, random_state=0).fit(data)
    b = DPGAN(**SMALL, release=True, random_state=0).fit(data)
    wa = torch.cat([p.detach().flatten() for p in a.critic_.parameters()])
    wb = torch.cat([p.detach().flatten() for p in b.critic_.parameters()])
    assert not torch.equal(wa, wb), "same seed, same critic: the noise was replayable"
    assert a.diagnostics()["epsilon_nominal"] == 0.0
    assert a.diagnostics()["epsilon"] == pytest.approx(b.diagnostics()["epsilon"])
    assert registry.make("dpgan:release=true", random_state=0).release is True


def test_secure_draws_have_the_right_law() -> None:
    u = secure_uniform(20_000)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    z = secure_normal((20_000,), 3.0, torch.zeros(1)).numpy()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 3.0) < 0.1
    assert not np.array_equal(secure_uniform(8), secure_uniform(8))


def test_no_unnoised_statistic_of_the_records_is_reported(data: EHRDataset) -> None:
    gen = DPGAN(**{**SMALL, "epochs": 2}, random_state=0).fit(data)
    gen.sample(50)
    allowed_history = {"epoch", "phase", "loss_g", "epsilon"}
    for row in gen.training_history():
        assert set(row) <= allowed_history, set(row) - allowed_history
    diag = gen.diagnostics()
    forbidden = {"never_generated", "never_generated_frac", "grad_norm", "clipped_frac", "wdist", "loss_d"}
    assert not forbidden & set(diag)
    assert gen.present_ is None
    assert set(diag) <= {
        "epsilon", "delta", "epsilon_nominal", "noise_multiplier", "dp_steps", "sample_rate",
        "updates", "published_updates", "schedule_fraction", "epochs_run", "published_epochs",
    }
