"""Budgets in the open: every neural generator reports the share of its published schedule it
ran, and honours an equal budget of optimiser updates (``max_updates``, Lucic et al. 2018)."""

from __future__ import annotations

import pytest

from bench.core.data import EHRDataset
from bench.datasets.toy import make_toy
from generators import registry

TINY = {
    "medgan": "medgan:ae_epochs=2,epochs=3,batch_size=64,ae_batch_size=32,embed_dim=8,gen_dims=8-8,disc_dims=16",
    "medwgan": "medwgan:ae_epochs=2,epochs=3,batch_size=64,ae_batch_size=32,embed_dim=8,gen_dims=8-8,disc_dims=16",
    "medbgan": "medbgan:ae_epochs=2,epochs=3,batch_size=64,ae_batch_size=32,embed_dim=8,gen_dims=8-8,disc_dims=16",
    "emrwgan": "emrwgan:epochs=3,batch_size=64,d_steps=2,noise_dim=8,width=16,n_layers=3",
    "corgan": "corgan:ae_epochs=2,epochs=3,batch_size=64,ae_batch_size=32,embed_dim=8,gen_dims=8-8,disc_dims=16,"
    "warmup_iterations=2,warmup_d_steps=4,d_steps=2",
    "dpgan": "dpgan:epochs=2,batch_size=32,d_steps=2,noise_dim=8,gen_dims=8-8,disc_dims=16",
    "ctgan": "ctgan:epochs=2,batch_size=40,embedding_dim=8,generator_dim=16,discriminator_dim=16",
    "tvae": "tvae:epochs=2,batch_size=40,embedding_dim=8,compress_dims=16,decompress_dims=16",
    "meddiff": "meddiff:epochs=3,batch_size=64,hidden_dim=16,n_blocks=1,time_dim=8,timesteps=50,steps=5",
}
# one iteration (critic updates + a generator update) is the unit the GANs round the budget to
SLACK = {"corgan": 5, "emrwgan": 3, "dpgan": 3, "medgan": 3, "medwgan": 3, "medbgan": 3, "meddiff": 0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def data() -> EHRDataset:
    return make_toy(n_records=160, n_codes=12, seed=1)


def _fit(spec: str, data: EHRDataset):  # type: ignore[no-untyped-def]
    gen = registry.make(spec, random_state=0)
    gen.fit(data)
    return gen


@pytest.mark.parametrize("name", list(TINY))
def test_reports_the_share_of_its_published_schedule(name: str, data: EHRDataset) -> None:
    gen = _fit(TINY[name], data)
    b = gen.budget_
    assert b["updates"] > 0 and b["published_updates"] > b["updates"]
    assert gen.schedule_fraction_ == pytest.approx(b["updates"] / b["published_updates"])
    assert 0 < gen.schedule_fraction_ < 1  # tiny schedules: far below the published one
    diag = gen.diagnostics()
    for key in ("updates", "published_updates", "schedule_fraction", "epochs_run", "published_epochs"):
        assert key in diag, key
    assert diag["epochs_run"] < diag["published_epochs"]


@pytest.mark.parametrize("name", [n for n in TINY if n not in ("ctgan", "tvae")])
def test_max_updates_gives_that_many_optimiser_updates(name: str, data: EHRDataset) -> None:
    for budget in (40, 90):
        gen = _fit(TINY[name] + f",max_updates={budget}", data)
        assert abs(gen.budget_["updates"] - budget) <= SLACK[name] * 2, (budget, gen.budget_)


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_package_generators_round_the_budget_to_whole_epochs(name: str, data: EHRDataset) -> None:
    gen = _fit(TINY[name] + ",max_updates=40", data)
    per_epoch = gen._updates_per_epoch(data.n_records, gen.get_params())
    assert gen.budget_["epochs"] == max(1, round(40 / per_epoch))
    assert gen.budget_["updates"] == gen.budget_["epochs"] * per_epoch
    assert len(gen.training_history()) == gen.budget_["epochs"]


def test_a_budget_scales_every_phase_alike(data: EHRDataset) -> None:
    gen = _fit(TINY["medgan"] + ",max_updates=60", data)
    planned = {name: it for name, it, _ in gen._phases(data.n_records, gen.get_params())}
    ran = {name: it for name, it, _ in gen.phases_}
    f = 60 / gen._plan_updates(gen._phases(data.n_records, gen.get_params()), gen.get_params())
    for name in planned:
        assert ran[name] == max(1, round(planned[name] * f))


@pytest.mark.parametrize("spec", ["medgan:max_updates=-1", "meddiff:max_updates=-5", "ctgan:max_updates=-1"])
def test_a_negative_budget_is_a_clear_error(spec: str) -> None:
    from bench.core.errors import OptionError

    with pytest.raises(OptionError, match="max_updates"):
        registry.make(spec, random_state=0)


def test_published_schedules_run_in_full_at_the_defaults() -> None:
    """At the published defaults the fraction is 1: measured on a fake size, without training."""
    for name in ("medgan", "corgan", "emrwgan", "dpgan"):
        gen = registry.make(name, random_state=0)
        p = gen.get_params()
        phases = gen._phases(2155, p)
        assert gen._plan_updates(phases, p) == gen._plan_updates(gen._phases(2155, gen.published_params()), p)
