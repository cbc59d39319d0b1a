"""EHR-GPT: options, the token encoding, the cached decoder, the sampling constraints, the
training contract, label conditioning and learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.core.data import EHRDataset
from bench.core.errors import OptionError
from bench.datasets.toy import make_toy
from generators import registry
from generators.baselines import IndependentGenerator
from generators.ehrgpt import EHRGPT
from generators.ehrgpt.model import DEFAULT_EPOCHS
from generators.ehrgpt.network import GPT
from generators.ehrgpt.tokens import Vocabulary
from metrics.base import SyntheticData
from metrics.prediction import DimensionWisePrediction

QUICK = EHRGPT.presets["quick"]
TINY = {**QUICK, "d_model": 32, "n_heads": 2, "epochs": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy_data() -> tuple[EHRDataset, EHRDataset]:
    return make_toy(n_records=600, seed=0).split(seed=0)


@pytest.fixture(scope="module")
def quick_fit(toy_data: tuple[EHRDataset, EHRDataset]) -> EHRGPT:
    return EHRGPT(**QUICK, random_state=0).fit(toy_data[0])


# ---------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("spec", "option", "value"),
    [
        ("ehrgpt:d_model=64,n_heads=3", "n_heads", "3"),
        ("ehrgpt:dropout=1.0", "dropout", "1.0"),
        ("ehrgpt:max_codes=0", "max_codes", "0"),
        ("ehrgpt:max_updates=-1", "max_updates", "-1"),
        ("ehrgpt:temperature=0", "temperature", "0"),
        ("ehrgpt:n_layers=0", "n_layers", "0"),
        ("ehrgpt:device=tpu", "device", "tpu"),
    ],
)
def test_bad_options_name_option_and_value(spec: str, option: str, value: str) -> None:
    with pytest.raises(OptionError) as exc:
        registry.make(spec)
    assert option in str(exc.value) and value in str(exc.value)


def test_defaults_and_presets() -> None:
    gen = registry.make("ehrgpt")
    assert (gen.n_layers, gen.d_model, gen.n_heads, gen.dropout, gen.epochs) == (4, 256, 4, 0.1, DEFAULT_EPOCHS)
    assert gen.max_updates is None and gen.temperature == 1.0 and gen.supports_conditioning
    assert {"cpu", "quick"} <= set(EHRGPT.presets)
    assert registry.make("ehrgpt", preset="cpu").d_model == 128


def test_count_data_is_refused() -> None:
    with pytest.raises(OptionError, match="binary"):
        EHRGPT(**TINY).fit(make_toy(n_records=100, kind="count"))


# ---------------------------------------------------------------------------------- tokens
def test_encode_decode_round_trip() -> None:
    X = np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32)
    v = Vocabulary(4)
    tokens, lengths, truncated = v.encode(X, np.array([1, 0, 1]), max_codes=4)
    assert tokens[0].tolist() == [v.label0 + 1, 1, 3, v.end, v.end, v.end]
    assert tokens[1].tolist()[:2] == [v.label0, v.end] and lengths.tolist() == [4, 2, 6] and truncated == 0
    np.testing.assert_array_equal(v.decode(tokens[:, 1:]), X)
    short, _, truncated = v.encode(X, None, max_codes=2)
    assert truncated == 1 and short[2].tolist() == [v.no_label, 0, 1, v.end]


def test_cache_matches_full_forward() -> None:
    torch.manual_seed(0)
    net = GPT(vocab=12, max_len=8, d_model=16, n_layers=2, n_heads=2, dropout=0.1).eval()
    seq = torch.randint(0, 12, (3, 8))
    with torch.no_grad():
        full, _ = net(seq)
        cache, steps = None, []
        for j in range(8):
            out, cache = net(seq[:, j : j + 1], cache)
            steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    # causal: changing a later token leaves earlier logits alone
    seq2 = seq.clone()
    seq2[:, 5] = (seq2[:, 5] + 1) % 12
    with torch.no_grad():
        full2, _ = net(seq2)
    assert torch.allclose(full2[:, :5], full[:, :5], atol=1e-6) and not torch.allclose(full2[:, 5], full[:, 5])


# ---------------------------------------------------------------------------------- contract
def test_fit_sample_contract(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    train = toy_data[0]
    gen = EHRGPT(**TINY, random_state=0)
    params = gen.get_params()
    gen.fit(train)
    assert gen.get_params() == params
    X, y = gen.sample(60)
    assert X.shape == (60, train.n_codes) and X.dtype == np.float32 and set(np.unique(X)) <= {0.0, 1.0}
    assert y is not None and set(np.unique(y)) <= {0, 1}
    assert (X.sum(axis=1) <= gen.max_codes_).all()
    assert [h["epoch"] for h in gen.history_] == [1, 2]
    per_epoch = math.ceil(train.n_records / TINY["batch_size"])
    assert gen.n_updates_ == 2 * per_epoch
    assert gen.schedule_fraction_ == pytest.approx(2 / DEFAULT_EPOCHS)
    assert gen.diagnostics()["schedule_fraction"] == gen.schedule_fraction_


def test_max_updates_caps_training(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    gen = EHRGPT(**{**TINY, "epochs": 40}, max_updates=3, random_state=0).fit(toy_data[0])
    per_epoch = math.ceil(toy_data[0].n_records / TINY["batch_size"])
    assert gen.n_updates_ == 3 and gen.schedule_fraction_ == pytest.approx(3 / per_epoch / DEFAULT_EPOCHS)


def test_same_seed_same_samples(toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = EHRGPT(**TINY, random_state=3).fit(toy_data[0]).sample(40)
    assert torch.equal(torch.rand(1), before)  # dropout ran on a forked, seeded global RNG
    b = EHRGPT(**TINY, random_state=3).fit(toy_data[0]).sample(40)
    c = EHRGPT(**TINY, random_state=4).fit(toy_data[0]).sample(40)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_unlabelled_data_and_max_codes() -> None:
    data = make_toy(n_records=200)
    unlabelled = EHRDataset(X=data.X, y=None, columns=data.columns)
    gen = EHRGPT(**TINY, max_codes=3, random_state=0).fit(unlabelled)
    X, y = gen.sample(30)
    assert y is None and (X.sum(axis=1) <= 3).all()
    assert gen.n_truncated_ == int(((data.X > 0).sum(axis=1) > 3).sum()) > 0


def test_sequences_are_increasing_and_stop(quick_fit: EHRGPT) -> None:
    tokens, counts, capped = quick_fit._generate(torch.full((200,), quick_fit.vocab_.label0))
    end = quick_fit.vocab_.end
    for row, k in zip(tokens, counts, strict=True):
        codes = row[row < end]
        assert len(codes) == k and (np.diff(codes) > 0).all()  # each code once, in column order
        assert (row[k:] == end).all()  # nothing after the end token
    assert capped <= 200


# ---------------------------------------------------------------------------------- learning
def test_quick_preset_beats_independent(quick_fit: EHRGPT, toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    train, test = toy_data
    metric = DimensionWisePrediction()
    labels = np.random.default_rng(0).permutation(train.y)
    X, _ = quick_fit.sample(train.n_records, labels)
    Xi, _ = IndependentGenerator(random_state=0).fit(train).sample(train.n_records, labels)
    ours = metric.compute(train, test, SyntheticData(X, labels))["dwpred_auroc_syn"]
    floor = metric.compute(train, test, SyntheticData(Xi, labels))["dwpred_auroc_syn"]
    assert ours > floor + 0.05, (ours, floor)


def test_label_prefix_conditions_the_records(quick_fit: EHRGPT, toy_data: tuple[EHRDataset, EHRDataset]) -> None:
    """Records drawn for label 1 look like label-1 records to a classifier trained on real data."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(toy_data[0].X, toy_data[0].y)
    n = 300
    X1, y1 = quick_fit.sample(n, labels=np.ones(n, dtype=int))
    X0, y0 = quick_fit.sample(n, labels=np.zeros(n, dtype=int))
    assert (y1 == 1).all() and (y0 == 0).all()
    assert clf.predict_proba(X1)[:, 1].mean() > clf.predict_proba(X0)[:, 1].mean() + 0.1
