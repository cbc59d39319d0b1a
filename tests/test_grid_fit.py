"""A few-step sampler's grid fitted to the model's own DDIM-20 trajectory (generators.meddiff.grid_fit).

The fitted grid must generalise: on noise the search never saw, the fitted few-step sampler's
code prevalences are closer to the teacher's than the evenly spaced one's. It must be deterministic,
leave the sampling stream alone, and refuse what it cannot fit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from bench.datasets.toy import make_toy
from generators import registry
from generators.meddiff import MedDiff
from generators.meddiff.grid_fit import fit_grid, prevalence_gap
from generators.meddiff.samplers import make_sampler, sampler_setup
from generators.meddiff.schedule import make_schedule

TINY = dict(timesteps=100, hidden_dim=48, n_blocks=1, time_dim=16, epochs=60, batch_size=128)
FEW = dict(sampler="dpmpp2m", steps=4)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def train() -> EHRDataset:
    return make_toy(n_records=600, seed=0).split(seed=0)[0]


@pytest.fixture(scope="module")
def fitted(train: EHRDataset) -> MedDiff:
    return MedDiff(**TINY, **FEW, spacing="fitted", random_state=0).fit(train)


def _gap(gen: MedDiff, grid: torch.Tensor | str, seed: int) -> float:
    """The prevalence gap between the few-step sampler on ``grid`` and DDIM-20, on noise drawn
    from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn((1500, gen.n_codes_), generator=g)
    eps = gen.eps_fn(torch.as_tensor(np.arange(1500) % 2))
    out = []
    for name, steps, spacing in (("ddim", 20, "uniform"), ("dpmpp2m", FEW["steps"], grid)):
        with torch.no_grad():
            x = make_sampler(name, gen.schedule_, steps, spacing=spacing)(eps, x_T)
        out.append(gen._decode(x.numpy()))
    return prevalence_gap(out[1], out[0])


def test_the_fitted_grid_reproduces_the_teacher_on_unseen_noise(fitted: MedDiff) -> None:
    grid = fitted.grid_
    assert grid is not None and len(grid) == FEW["steps"] and int(grid[0]) == fitted.timesteps - 1
    assert bool((grid.diff() < 0).all())
    info = fitted.diagnostics()
    assert info["grid_gap"] < info["grid_gap_uniform"]
    uniform = np.mean([_gap(fitted, "uniform", s) for s in (101, 102)])
    fitted_grid = np.mean([_gap(fitted, grid, s) for s in (101, 102)])
    assert fitted_grid < 0.9 * uniform, (fitted_grid, uniform)  # measured: 0.51
    # the generator samples on it unless told otherwise, and says so
    assert torch.equal(fitted.make_sampler().grid, grid)
    assert fitted.make_sampler(spacing="uniform").grid.tolist() == fitted.schedule_.grid(FEW["steps"]).tolist()


def test_fitting_is_deterministic_and_leaves_the_sampling_stream(fitted: MedDiff, train: EHRDataset) -> None:
    again = MedDiff(**TINY, **FEW, spacing="fitted", random_state=0).fit(train)
    assert torch.equal(again.grid_, fitted.grid_)
    plain = MedDiff(**TINY, **FEW, spacing="uniform", random_state=0).fit(train)
    assert plain.grid_ is None
    X_plain, y_plain = plain.sample(300)
    X_fit, y_fit = again.sample(300, sampler=again.make_sampler(spacing="uniform"))
    np.testing.assert_array_equal(X_plain, X_fit)  # the search drew from a stream of its own
    np.testing.assert_array_equal(y_plain, y_fit)


def test_the_default_searches_nothing(train: EHRDataset) -> None:
    """The default, DPM-Solver++(2M) on the fixed tuned grid of six calls, fits no grid, and
    another sampler asked of a fitted model runs on the uniform grid."""
    defaults = MedDiff.param_defaults()
    assert defaults["sampler"] == "dpmpp2m"
    assert sampler_setup("dpmpp2m", defaults["steps"], defaults["spacing"]) == (6, "tuned")
    gen = MedDiff(**TINY, random_state=0).fit(train)
    assert gen.grid_ is None and gen.diagnostics().get("grid_gap") is None
    assert gen.make_sampler().grid.tolist() == gen.schedule_.grid(6, "tuned").tolist()
    assert gen.make_sampler("ddim", 20).grid.tolist() == gen.schedule_.grid(20).tolist()


def test_a_sampler_named_alone_gets_its_own_steps_and_spacing(train: EHRDataset) -> None:
    """The six calls on the tuned grid are DPM-Solver++(2M)'s own: ``meddiff:sampler=parataa``
    stays ParaTAA over DDIM-20's uniform trajectory, ``sampler=ddim,steps=50`` a uniform grid;
    what a spec sets is kept, and an unset budget too long for the schedule is named as such."""
    for spec, want in [("meddiff", (6, "tuned")), ("meddiff:sampler=parataa", (20, "uniform")),
                       ("meddiff:sampler=ddim", (20, "uniform")), ("meddiff:sampler=ancestral", (20, "uniform")),
                       ("meddiff:sampler=ddim,steps=50", (50, "uniform")),
                       ("meddiff:sampler=ddim,spacing=tuned", (20, "tuned")),
                       ("meddiff:steps=10", (10, "tuned"))]:
        gen = registry.make(spec)
        assert sampler_setup(gen.sampler, gen.steps, gen.spacing) == want, spec
    gen = MedDiff(**TINY, sampler="ddim", random_state=0).fit(train)
    assert gen.make_sampler().grid.tolist() == gen.schedule_.grid(20).tolist()
    with pytest.raises(OptionError, match=r"steps=None \(6 for dpmpp2m\) exceeds the diffusion steps timesteps=5"):
        registry.make("meddiff:timesteps=5")


def test_a_grid_for_another_budget_is_fitted_on_request(fitted: MedDiff) -> None:
    smp = fitted.make_sampler("dpmpp2m", 3, spacing="fitted")
    assert smp.steps == 3 and int(smp.grid[0]) == fitted.timesteps - 1


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("meddiff:spacing=fitted,sampler=parataa,steps=6", "needs sampler in"),
        ("meddiff:spacing=fitted,steps=20", "2 <= steps < 20"),
        ("meddiff:spacing=even", "spacing='even' is not one of"),
        # a schedule shorter than 20 steps: the teacher is DDIM over every timestep, refused before training
        ("meddiff:spacing=fitted,sampler=dpmpp2m,steps=6,timesteps=6", "2 <= steps < 6"),
    ],
)
def test_what_cannot_be_fitted_is_refused_by_name(spec: str, why: str) -> None:
    with pytest.raises(OptionError, match="spacing") as exc:
        registry.make(spec).validate_params()
    assert why in str(exc.value)


def test_a_schedule_shorter_than_the_teacher_fits_against_ddim_over_every_timestep(train: EHRDataset) -> None:
    """With ``timesteps`` under 20 the teacher is DDIM over all of them: the fit must finish (it
    asked the sampler for 20 steps of a 10-step schedule and failed after training)."""
    gen = MedDiff(**{**TINY, "timesteps": 10, "epochs": 5}, **FEW, spacing="fitted", random_state=0).fit(train)
    assert len(gen.grid_) == FEW["steps"] and int(gen.grid_[0]) == 9
    assert gen.diagnostics()["grid_gap"] <= gen.diagnostics()["grid_gap_uniform"]


def test_explicit_grids_are_checked() -> None:
    s = make_schedule("cosine", 100)
    assert make_sampler("ddim", s, 3, spacing=[99, 40, 0]).grid.tolist() == [99, 40, 0]
    for bad in ([98, 40, 0], [99, 40, 40], [99, 40], [99, 40, -2]):
        with pytest.raises(ValueError, match="must fall strictly from 99"):
            make_sampler("ddim", s, 3, spacing=bad)
    with pytest.raises(ValueError, match="sequential sampler"):
        fit_grid("parataa", s, 4, lambda x, t: x, torch.zeros(2, 3), lambda z: z)
    with pytest.raises(ValueError, match="2 <= steps < 20"):
        fit_grid("ddim", s, 20, lambda x, t: x, torch.zeros(2, 3), lambda z: z)


def test_the_prevalence_gap_reads_codes_on_the_log_odds_scale() -> None:
    """Known answers: equal prevalences cost nothing; a rare code lost costs more than the same
    absolute shift of a common one (what a detector sees); a code never generated costs a finite
    amount set by the clip at 1/2n; counts are compared by presence."""
    n = 1000
    target = np.zeros((n, 2))
    target[:10, 0] = 1  # a rare code, 1 %
    target[:500, 1] = 1  # a common code, 50 %
    assert prevalence_gap(target, target) == 0.0
    rare_lost = target.copy()
    rare_lost[:5, 0] = 0  # 1 % -> 0.5 %
    common_shift = target.copy()
    common_shift[500:505, 1] = 1  # 50 % -> 50.5 %
    assert prevalence_gap(rare_lost, target) > 30 * prevalence_gap(common_shift, target)
    never = target.copy()
    never[:, 0] = 0
    expected = abs(np.log(0.0005 / 0.9995) - np.log(0.01 / 0.99)) / 2
    assert prevalence_gap(never, target) == pytest.approx(expected)
    assert prevalence_gap(3 * target, target) == 0.0
