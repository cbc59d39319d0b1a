"""align_columns: the evaluation dataset seen through the training dataset's columns."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from bench.core.align import align_columns
from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

X_EVAL = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=np.float32)


def _train(columns: list[str]) -> EHRDataset:
    X = np.eye(4, len(columns), dtype=np.float32)
    return EHRDataset(X=X, y=np.array([0, 1, 0, 1]), columns=columns, name="train")


def _eval(sparse_input: bool = False) -> EHRDataset:
    X = sparse.csr_array(X_EVAL) if sparse_input else X_EVAL
    return EHRDataset(X=X, y=np.array([1, 0, 0, 1]), columns=["a", "b", "c"], names=["A", "B", "C"], name="eval")


@pytest.mark.parametrize("sparse_input", [False, True])
def test_reorders_and_drops_by_column_id(sparse_input):
    out = align_columns(_train(["c", "a"]), _eval(sparse_input))
    assert out.columns == ["c", "a"] and out.names == ["C", "A"]
    assert np.array_equal(out.X, X_EVAL[:, [2, 0]]) and np.array_equal(out.y, [1, 0, 0, 1])
    assert out.is_sparse == sparse_input and out.name == "eval"


def test_missing_columns_are_named_or_zero_filled():
    train = _train(["a", "x", "c", "y"])
    with pytest.raises(DatasetError, match=r"lacks 2 column\(s\) of 'train': x, y"):
        align_columns(train, _eval())
    out = align_columns(train, _eval(), fill_missing=True)
    assert out.columns == ["a", "x", "c", "y"]
    assert np.array_equal(out.X, np.column_stack([X_EVAL[:, 0], np.zeros(4), X_EVAL[:, 2], np.zeros(4)]))


def test_aligned_data_is_returned_as_is_and_kinds_must_agree():
    ev = _eval()
    assert align_columns(_train(["a", "b", "c"]), ev) is ev
    counts = EHRDataset(X=X_EVAL * 2, y=ev.y, columns=ev.columns, kind="count", name="counts")
    with pytest.raises(DatasetError, match="kinds differ"):
        align_columns(_train(["a", "b", "c"]), counts)
