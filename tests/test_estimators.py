"""Generators as scikit-learn estimators: arrays and DataFrames in, the same form out; get_params,
set_params and clone for every registered generator (issue 27)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone

from bench.core.errors import BenchError, OptionError
from bench.datasets.toy import make_toy
from generators import registry
from generators.base import Generator

# meddiff's quick preset cut to a few updates: the contract is tested, not the learning
FEW = {"epochs": 2, "timesteps": 20, "steps": 5}


@pytest.fixture(scope="module")
def toy():
    return make_toy(n_records=120, n_codes=10)


@pytest.mark.parametrize("name", registry.available())
def test_clone_and_set_params_round_trip_every_generator(name):
    gen = registry.make(name, random_state=3)
    params = gen.get_params()
    assert "random_state" in params and params["random_state"] == 3
    twin = clone(gen)
    assert type(twin) is type(gen) and twin is not gen
    assert twin.get_params() == params
    if "device" in params:  # device is a hyperparameter like any other
        assert gen.set_params(device="cpu").device == "cpu"
    assert gen.set_params(random_state=7) is gen and gen.get_params()["random_state"] == 7
    with pytest.raises(ValueError, match="Invalid parameter"):
        gen.set_params(no_such_option=1)


@pytest.mark.parametrize("name", registry.available())
def test_scikit_learns_parameter_checks_pass(name):
    """The checks of sklearn.utils.estimator_checks that apply to a generator (the rest assume
    predict or transform): nothing set in __init__ beyond the parameters, parameters stored as
    given, get_params stable, set_params round-trips, defaults of constructible types."""
    from sklearn.utils import estimator_checks as ec

    gen = registry.make(name, random_state=0)
    ec.check_no_attributes_set_in_init(name, gen)
    ec.check_get_params_invariance(name, gen)
    ec.check_set_params(name, gen)
    ec.check_parameters_default_constructible(name, gen)


def test_meddiff_fits_an_array_and_samples_an_array_of_its_dtype(toy):
    X = toy.X.astype(np.int64)
    gen = registry.make("meddiff", preset="quick", random_state=0, **FEW)
    out = gen.fit(X).sample(7)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out.shape == (7, toy.n_codes)
    assert set(np.unique(out)) <= {0, 1}
    # with a label: records and labels, as two values; given labels are honoured (conditional model)
    Xs, ys = gen.fit(X, toy.y).sample(6, labels=np.array([1, 1, 1, 0, 0, 0]))
    assert Xs.shape == (6, toy.n_codes) and ys.tolist() == [1, 1, 1, 0, 0, 0]


def test_meddiff_fits_a_dataframe_and_samples_one_with_its_columns(toy):
    cols = [f"code_{j}" for j in range(toy.n_codes)]
    df = pd.DataFrame(toy.X.astype(np.int32), columns=cols)
    df.insert(2, "died", toy.y)
    gen = registry.make("meddiff", preset="quick", random_state=0, **FEW)
    out = gen.fit(df, y="died").sample(5)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(df.columns)  # label where it stood
    assert (out.dtypes == df.dtypes).all() and set(out["died"]) <= {0, 1}
    series = pd.Series(toy.y, name="outcome")
    out = gen.fit(df.drop(columns="died"), series).sample(4)
    assert list(out.columns) == [*cols, "outcome"]


def test_an_unconditional_generator_learns_the_label_as_a_column(toy):
    """medGAN cannot condition: it learns the label as one more column and samples it back (the
    harness's rule), so a DataFrame still comes back with its label."""
    df = pd.DataFrame(toy.X, columns=[f"c{j}" for j in range(toy.n_codes)])
    gen = registry.make("medgan", preset="quick", random_state=0, max_updates=40)
    out = gen.fit(df, pd.Series(toy.y, name="y")).sample(9)
    assert list(out.columns) == [*df.columns, "y"] and set(out["y"]) <= {0, 1}
    with pytest.raises(OptionError, match="cannot condition on given labels"):
        gen.sample(3, labels=np.ones(3, dtype=int))


def test_counts_sparse_input_and_the_dataset_form(toy):
    counts = (toy.X * np.arange(1, toy.n_codes + 1)).astype(np.int64)
    gen = registry.make("independent", random_state=0)
    out = gen.fit(counts).sample(50)
    assert out.dtype == np.int64 and out.max() > 1  # counts stay counts
    assert gen.input_form_.kind == "count"
    sp = gen.fit(sparse.csr_array(toy.X)).sample(5)
    assert sparse.issparse(sp) and sp.shape == (5, toy.n_codes)
    X, y = gen.fit(toy).sample(5)  # an EHRDataset: the harness's arrays
    assert X.dtype == np.float32 and y is not None and len(y) == 5
    ds = gen.sample_dataset(5)
    assert list(ds.columns) == list(toy.columns) and ds.kind == toy.kind and ds.n_records == 5


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros(5), None, "must be 2-D"),
        (np.array([["a", "b"]]), None, "must be numeric"),
        (pd.DataFrame({"a": [1, 0], "b": ["x", "y"]}), None, "column 'b' is not numeric"),
        (pd.DataFrame({"a": [1, 0]}), "died", "y='died' names no column"),
        (np.ones((4, 2)), np.ones(3), r"one label per record \(4\)"),
        (pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}), None, "non-finite values.*column 'a'"),
        (np.array([[1, 0], [0, -2]]), None, "negative counts in column 'c1'"),
    ],
)
def test_bad_input_is_an_error_naming_what_is_wrong(X, y, message):
    with pytest.raises(BenchError, match=message):
        registry.make("independent").fit(X, y)


def test_a_subclass_calling_its_parents_fit_keeps_the_callers_form(toy):
    from generators.baselines import IndependentGenerator

    class Child(IndependentGenerator):
        name = "child"

        def fit(self, data):
            self.saw_ = type(data).__name__
            return super().fit(data)

    gen = Child(random_state=0).fit(toy.X)
    assert gen.saw_ == "EHRDataset" and isinstance(gen.sample(3), np.ndarray)
    assert issubclass(Child, Generator) and clone(gen).get_params() == {"random_state": 0}
