"""The dataset registry (names, options, cache) and the sparse backing of EHRDataset."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from scipy import sparse

from bench import datasets
from bench.core.data import EHRDataset
from bench.core.errors import DatasetError, OptionError
from bench.core.options import DatasetSpec

ALL = ["dialysis", "eunomia", "file", "flchain", "framingham", "mimic3", "omop", "rhc", "smarto",
       "synthetic-mimic", "toy"]


def test_every_dataset_is_listed_with_a_description():
    assert datasets.available() == ALL
    described = dict(datasets.describe_all())
    assert list(described) == ALL and all(described.values())
    assert "SIMULATED" in described["synthetic-mimic"]
    keys = [k for k, _, _ in datasets.describe_options("mimic3")]
    assert keys == ["path", "codes", "kind", "bad_codes"]


def test_spec_syntax_matches_the_generators():
    specs = DatasetSpec.parse_list("mimic3:codes=full,kind=count, toy ,file:path=C:/data/x.csv,label=y")
    assert [s.name for s in specs] == ["mimic3", "toy", "file"]
    assert specs[0].options == {"codes": "full", "kind": "count"}
    assert specs[2].options == {"path": "C:/data/x.csv", "label": "y"}  # ':' inside a value
    assert specs[0].label == "mimic3:codes=full,kind=count"
    assert DatasetSpec.parse(specs[0].label) == specs[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [("kind=count", "before any dataset"), (":a=1", "no dataset name"),
     ("toy:seed=1,seed=2", "given twice"), ("", "no dataset named"), ("toy:seed", "not key=value")],
)
def test_malformed_specs_are_option_errors(text, message):
    with pytest.raises(OptionError, match=message):
        DatasetSpec.parse_list(text)


def test_check_names_lists_valid_names_and_checks_options():
    with pytest.raises(OptionError, match="unknown dataset 'mimic'; valid datasets: dialysis, eunomia, file, flchain"):
        datasets.check_names(DatasetSpec.parse_list("toy,mimic"))
    with pytest.raises(OptionError, match="toy.*unknown option 'rows'; valid options: kind, label, n_codes, n_records, seed"):
        datasets.check_names([DatasetSpec.parse("toy:rows=5")])
    with pytest.raises(OptionError, match="toy.*n_records='many' is not an integer"):
        datasets.check_names([DatasetSpec.parse("toy:n_records=many")])
    datasets.check_names(DatasetSpec.parse_list("toy:n_records=100,kind=count,eunomia"))


def test_toy_default_is_unchanged_and_options_work():
    from bench.datasets.toy import make_toy

    assert datasets.load("toy").fingerprint == make_toy().fingerprint
    small = datasets.load("toy:n_records=90,seed=2")
    assert small.n_records == 90 and small.fingerprint == make_toy(n_records=90, seed=2).fingerprint
    assert datasets.load("toy", n_codes=12).n_codes == 12  # keyword options too
    with pytest.raises(OptionError, match="given twice"):
        datasets.load("toy:seed=1", seed=2)


def test_sparse_dataset_round_trips_through_the_cache(monkeypatch):
    first = datasets.load("eunomia")
    assert first.is_sparse
    from bench.datasets import eunomia

    def fail(*a, **k):
        raise AssertionError("queried again")

    monkeypatch.setattr(eunomia, "load_omop", fail)
    second = datasets.load("eunomia")
    assert second.is_sparse and second.fingerprint == first.fingerprint and second.names == first.names
    assert second.label_name == first.label_name


# ------------------------------------------------------------------------------ sparse backing
def _pair(toy):
    sp = EHRDataset(X=sparse.csr_matrix(toy.X), y=toy.y, columns=toy.columns, kind=toy.kind,
                    name=toy.name, names=toy.names, label_name=toy.label_name, source=toy.source)
    return sp


def test_sparse_and_dense_of_the_same_content_agree(toy):
    sp = _pair(toy)
    assert sp.is_sparse and not sp.has_dense
    assert sp.fingerprint == toy.fingerprint
    assert sp.describe() == toy.describe()
    assert not sp.has_dense  # fingerprint and describe never built the dense copy
    tr, te = sp.split(seed=5)
    dtr, dte = toy.split(seed=5)
    assert tr.is_sparse and te.is_sparse and not sp.has_dense
    assert tr.fingerprint == dtr.fingerprint and te.fingerprint == dte.fingerprint
    lab = sp.with_label_as_column()
    assert lab.is_sparse and lab.fingerprint == toy.with_label_as_column().fingerprint


def test_dense_view_is_built_once_and_can_be_dropped(toy):
    sp = _pair(toy)
    X = sp.X
    assert X.dtype == np.float32 and np.array_equal(X, toy.X) and sp.X is X and sp.has_dense
    sp.drop_dense()
    assert not sp.has_dense and np.array_equal(sp.X, toy.X)


def test_batches_cover_every_record_once(toy):
    sp = _pair(toy)
    seen = [b for b, _ in sp.iter_batches(64, shuffle=True, seed=1)]
    assert all(b.shape[1] == toy.n_codes for b in seen) and sum(len(b) for b in seen) == toy.n_records
    assert np.isclose(np.vstack(seen).sum(), toy.X.sum()) and not sp.has_dense
    ys = np.concatenate([y for _, y in toy.iter_batches(64)])
    assert np.array_equal(ys, toy.y)


def test_sparse_dataset_pickles_and_copies(toy):
    sp = _pair(toy)
    for other in (pickle.loads(pickle.dumps(sp)), copy.deepcopy(sp)):
        assert other.is_sparse and other.fingerprint == toy.fingerprint
        assert np.array_equal(other.X, toy.X)


def test_repr_holds_no_records(toy):
    text = repr(_pair(toy))
    assert "records=600" in text and "[" not in text


@pytest.mark.parametrize(
    ("X", "kind", "message"),
    [
        ([[0, np.nan], [1, 0]], "binary", r"non-finite values \(1 cells\), first in column 'c1' \(record 0\)"),
        ([[0, 0], [1, -1]], "count", r"negative counts in column 'c1' \(record 1\)"),
        ([[0, 2], [1, 0]], "binary", r"values other than 0/1 \(1 cells\), first in column 'c1' \(record 0\)"),
        ([[0, 1.5], [1, 0]], "count", "non-integer values in column 'c1'"),
        (np.zeros((0, 3)), "binary", "empty"),
    ],
)
def test_sparse_input_gets_the_dense_checks(X, kind, message):
    M = sparse.csr_matrix(np.asarray(X, dtype=float))
    with pytest.raises(DatasetError, match=message):
        EHRDataset(X=M, y=None, columns=[f"c{j}" for j in range(M.shape[1])], kind=kind, name="unit")


def test_sparse_input_is_canonicalised_without_touching_the_callers_matrix():
    M = sparse.coo_matrix(([1.0, 1.0, 0.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    d = EHRDataset(X=M, y=None, columns=["a", "b"], kind="count", name="unit")
    assert np.array_equal(d.X, [[0, 2], [0, 0]]) and d.X_sparse.nnz == 1
    assert M.nnz == 3  # duplicates and the explicit zero are still in the caller's matrix


def test_toy_without_its_label_keeps_the_same_records():
    from bench.datasets.toy import make_toy

    with_label, without = make_toy(n_records=200), make_toy(n_records=200, label=False)
    assert without.y is None and with_label.y is not None
    np.testing.assert_array_equal(without.X, with_label.X)
