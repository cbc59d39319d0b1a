"""Every generator learns: at its ``quick`` preset, on records with known structure, it beats the
``independent`` baseline on dimension-wise prediction AUROC by a stated margin.

The data: :func:`bench.datasets.toy.make_toy` (600 records, 24 codes in three groups whose
blocks of codes switch on together), without its label, so ``independent`` knows nothing of
how codes go together: its synthetic-trained models score about 0.50 and real-trained ones
about 0.83. A generator that learned the blocks lands in between or near the top; one that
outputs marginal noise scores like ``independent`` and fails. Margins are set under what each
model reached when the test was written (seed 0, CPU; in brackets), so a real regression fails
them: medGAN 0.74, medBGAN 0.63 (0.59 since the published medGAN loss, on an AMD EPYC; its
margin is 0.05), medWGAN 0.82, CorGAN 0.83, EMR-WGAN 0.82, TVAE 0.82 (these four at the
quick presets retuned on eunomia; before, 0.76, 0.78, 0.73, 0.77), MedDiff 0.82, DPGAN
at noise multiplier 0.25: 0.66.

CTGAN is not among them: at any smoke-run schedule it does not learn these records. Its quick
fits scored 0.58, 0.46, 0.51, 0.46, 0.51, 0.53 on seeds 0-5 with the package's per-column loops
and 0.39, 0.54, 0.45, 0.53, 0.42, 0.51 with the vectorised ones (independent 0.50): the old
test passed on seed 0's luck. It is tested in the second tier where it learns, the CI grid's
``ctgan:epochs=150`` on 3,000 toy records without their label (0.797 +- 0.017 over seeds 0-7,
about 26 s a fit). DPGAN is tested at noise multiplier 0.25 (epsilon about 570
on these 480 records: no protection; the point is that the DP-SGD critic and its generator
learn at all) because at its default (2.0) it does not learn these records at the quick
preset, and neither at 0.5 (0.51 against independent's 0.50; epsilon about 100): the noise
drowns a critic that sees about 64 records per update. That is a property of strong privacy
on little data, stated rather than hidden (DPGAN's docstring gives the same on eunomia);
nothing here tests DPGAN's utility at its default noise.
"""

from __future__ import annotations

import dataclasses

import pytest

from bench.conditioning import fit_generator, sample_generator
from bench.core.data import EHRDataset
from bench.datasets.toy import make_toy
from generators import registry
from metrics.base import SyntheticData
from metrics.prediction import DimensionWisePrediction

# generator spec (at its quick preset) -> margin over independent's AUROC
MARGINS = {
    "medgan": 0.15,
    "medbgan": 0.05,  # seeds 0-3 reach 0.589, 0.572, 0.568, 0.699: the boundary-seeking loss varies most
    "medwgan": 0.10,
    "corgan": 0.15,
    "emrwgan": 0.10,
    "tvae": 0.15,
    "meddiff": 0.20,
    "dpgan:noise_multiplier=0.25": 0.08,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def split() -> tuple[EHRDataset, EHRDataset]:
    data = make_toy(n_records=600, n_codes=24, seed=0)
    return dataclasses.replace(data, y=None).split(seed=0)


def auroc(spec: str, split: tuple[EHRDataset, EHRDataset]) -> float:
    train, test = split
    gen = registry.make(spec, random_state=0, preset="quick")
    fit_generator(gen, train)
    X, y = sample_generator(gen, train.n_records, train)
    scores = DimensionWisePrediction(random_state=0).compute(train, test, SyntheticData(X=X, y=y))
    return scores["dwpred_auroc_syn"]


@pytest.fixture(scope="module")
def floor(split: tuple[EHRDataset, EHRDataset]) -> float:
    value = auroc("independent", split)
    assert value < 0.55, "independent must not see the structure, or the test shows nothing"
    return value


@pytest.mark.parametrize("spec", list(MARGINS))
def test_beats_independent_on_dimension_wise_prediction(
    spec: str, split: tuple[EHRDataset, EHRDataset], floor: float
) -> None:
    value = auroc(spec, split)
    assert value > floor + MARGINS[spec], f"{spec}: AUROC {value:.3f} vs independent {floor:.3f}"


@pytest.mark.tier2
def test_ctgan_beats_independent_where_it_learns() -> None:
    """CTGAN at the CI grid's schedule (published networks and batch, 150 epochs) on the CI grid's
    unlabelled toy records: independent scores about 0.50, CTGAN about 0.80 (seeds 0-7)."""
    train, test = make_toy(n_records=3000, seed=0, label=False).split(seed=0)
    values = {}
    for spec in ("independent", "ctgan:epochs=150"):
        gen = registry.make(spec, random_state=0)
        fit_generator(gen, train)
        X, y = sample_generator(gen, train.n_records, train)
        values[spec] = DimensionWisePrediction(random_state=0).compute(train, test, SyntheticData(X=X, y=y))[
            "dwpred_auroc_syn"]
    assert values["independent"] < 0.55
    assert values["ctgan:epochs=150"] > values["independent"] + 0.2, values
