from __future__ import annotations

import numpy as np
import pytest

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError


def _data(X, y=None, kind="binary", **kw):
    X = np.asarray(X, dtype=float)
    return EHRDataset(X=X, y=y, columns=[f"c{j}" for j in range(X.shape[1] if X.ndim == 2 else 0)],
                      kind=kind, name="unit", **kw)


def test_valid_dataset_keeps_its_shape_and_types():
    d = _data([[0, 1], [1, 0], [1, 1], [0, 0]], y=[0, 1, 0, 1])
    assert d.X.dtype == np.float32 and d.y.dtype == np.int64
    assert (d.n_records, d.n_codes) == (4, 2)


@pytest.mark.parametrize(
    ("X", "y", "kind", "message"),
    [
        ([[0, np.nan], [1, 0]], None, "binary", "non-finite values"),
        ([[0, np.inf], [1, 0]], None, "count", "non-finite values"),
        ([[0, -1], [1, 0]], None, "count", "negative counts in column 'c1'"),
        ([[0, 2], [1, 0]], None, "binary", "values other than 0/1"),
        (np.zeros((0, 3)), None, "binary", "empty"),
        (np.zeros((3, 0)), None, "binary", "empty"),
        ([[0, 1], [1, 0], [1, 1]], [0, 1], "binary", "label 'label' has 2 values for 3 records"),
        ([[0, 1], [1, 0], [1, 1]], [1, 1, 1], "binary", "one class only"),
        ([[0, 1], [1, 0], [1, 1]], [0, 1, 2], "binary", "must be binary 0/1"),
        ([[0, 1.5], [1, 0]], None, "count", "non-integer"),
    ],
)
def test_bad_input_raises_a_dataset_error_naming_the_problem(X, y, kind, message):
    with pytest.raises(DatasetError, match=message) as info:
        _data(X, y, kind)
    assert "unit" in str(info.value)  # the dataset is named


def test_unknown_kind_is_rejected():
    with pytest.raises(DatasetError, match="kind must be one of"):
        _data([[0, 1]], kind="real")


def test_error_messages_never_echo_record_values():
    X = np.array([[0, 0.12345678], [1, 0]])
    with pytest.raises(DatasetError) as info:
        _data(X)
    assert "0.12345678" not in str(info.value)


def test_split_is_stratified_fixed_by_seed_and_disjoint(toy):
    tr, te = toy.split(seed=3)
    tr2, te2 = toy.split(seed=3)
    tr3, _ = toy.split(seed=4)
    assert np.array_equal(tr.X, tr2.X) and np.array_equal(te.y, te2.y)
    assert not np.array_equal(tr.X, tr3.X)
    assert tr.n_records + te.n_records == toy.n_records
    assert abs(tr.y.mean() - te.y.mean()) < 0.02
    assert tr.fingerprint != te.fingerprint


def test_fingerprint_follows_content_only(toy):
    same = EHRDataset(X=toy.X.copy(), y=toy.y.copy(), columns=list(toy.columns), name="renamed")
    assert same.fingerprint == toy.fingerprint
    X = toy.X.copy()
    X[0, 0] = 1 - X[0, 0]
    changed = EHRDataset(X=X, y=toy.y, columns=toy.columns)
    assert changed.fingerprint != toy.fingerprint


def test_label_as_column_round_trip(toy):
    d = toy.with_label_as_column()
    assert d.y is None and d.n_codes == toy.n_codes + 1
    assert np.array_equal(d.X[:, -1], toy.y)



def _indexed(n=600, rate=0.2, seed=0):
    """Records that spell their own row index in binary, with a label of the given rate."""
    bits = ((np.arange(n)[:, None] >> np.arange(10)) & 1).astype(float)
    y = (np.random.default_rng(seed).random(n) < rate).astype(int)
    return _data(bits, y)


def _ids(part):
    return set((part.X.astype(int) << np.arange(10)).sum(axis=1).tolist())


def test_split3_is_stratified_disjoint_and_fixed_by_seed():
    full = _indexed()
    parts = full.split3(seed=4, val_size=0.1, test_size=0.2)
    tr, va, te = parts
    assert parts.seed == 4 and (tr.name, va.name, te.name) == ("unit/train", "unit/validation", "unit/test")
    a, b, c = _ids(tr), _ids(va), _ids(te)
    assert not (a & b) and not (a & c) and not (b & c) and len(a | b | c) == full.n_records
    assert abs(va.n_records - 60) <= 1 and abs(te.n_records - 120) <= 1
    for part in parts:  # stratified: every part keeps the label's rate
        assert part.y.mean() == pytest.approx(full.y.mean(), abs=0.02)
    # the test part is split()'s held-out part; the same seed gives the same parts, another seed others
    assert _ids(full.split(seed=4, test_size=0.2)[1]) == c
    again = full.split3(seed=4, val_size=0.1, test_size=0.2)
    assert [_ids(p) for p in again] == [a, b, c]
    other = full.split3(seed=5, val_size=0.1, test_size=0.2)
    assert _ids(other.validation) != b and _ids(other.test) != c


@pytest.mark.parametrize(("val", "test", "message"), [(0.0, 0.2, "val_size"), (0.5, 0.5, "below 1")])
def test_split3_rejects_bad_sizes(val, test, message):
    with pytest.raises(DatasetError, match=message):
        _indexed().split3(seed=0, val_size=val, test_size=test)
