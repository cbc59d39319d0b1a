"""The one option grammar of generators and datasets: one parser, one coercion, one error style."""

from __future__ import annotations

import pytest

from bench.core.errors import OptionError
from bench.core.options import DatasetSpec, GeneratorSpec, check_known, coerce, parse_spec_list


def test_generators_and_datasets_parse_the_same_text_the_same_way():
    text = "a:k=v,k2=v2, b ,c:path=C:/data/x.csv,label=y"
    gens, sets = GeneratorSpec.parse_list(text), DatasetSpec.parse_list(text)
    assert [(s.name, s.options) for s in gens] == [(s.name, s.options) for s in sets]
    assert [s.name for s in gens] == ["a", "b", "c"]


@pytest.mark.parametrize("spec_type", [GeneratorSpec, DatasetSpec])
def test_a_colon_inside_a_value_stays_in_the_value(spec_type):
    # a token starts a new spec only when its ':' comes before its first '='
    [spec] = spec_type.parse_list("omop:path=postgres:host=db,outcome=death")
    assert spec.options == {"path": "postgres:host=db", "outcome": "death"}
    a, b = spec_type.parse_list("file:path=C:/x.csv,label=y,toy:seed=1")
    assert a.options == {"path": "C:/x.csv", "label": "y"} and (b.name, b.options) == ("toy", {"seed": "1"})
    assert spec_type.parse(a.label) == a  # the label parses back to the spec


@pytest.mark.parametrize(
    ("text", "message"),
    [("steps=3", "option 'steps=3' comes before any generator name"),
     (":a=1", "generator spec ':a=1' has options but no generator name"),
     ("x:a=1,a=2", "generator 'x': option 'a' given twice"), ("", "no generator named"),
     ("x:a", "generator 'x': option 'a' is not key=value")],
)
def test_malformed_specs_name_the_kind_and_the_token(text, message):
    with pytest.raises(OptionError, match=message):
        parse_spec_list(text, GeneratorSpec)
    with pytest.raises(OptionError, match=message.replace("generator", "dataset")):
        parse_spec_list(text, DatasetSpec)


def test_one_spec_expected():
    with pytest.raises(OptionError, match="expected one dataset spec, got 2"):
        DatasetSpec.parse("toy,eunomia")


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [("yes", False, True), ("0", True, False), ("1_000", 5, 1000), ("2", 0.5, 2.0),
     ("256-128", (1,), (256, 128)), ("ddim", "ancestral", "ddim"), ("none", None, None),
     ("7", None, 7), ("0.5", None, 0.5), ("x", None, "x"), (3, 0.5, 3.0)],
)
def test_coercion_takes_the_type_of_the_default(value, default, expected):
    out = coerce("generator", "g", "k", value, default)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "default", "message"),
    [("maybe", True, "is not true/false"), ("many", 1, "is not an integer"), ("high", 0.5, "is not a number"),
     ("a-b", (1,), "is not integers joined by '-'"), (2.5, 1, "should be int, not float")],
)
def test_bad_values_name_the_option_and_the_type(value, default, message):
    with pytest.raises(OptionError, match=f"dataset 'd': option k={value!r} {message}".replace("(", r"\(")
                       .replace(")", r"\)")[:60]):
        coerce("dataset", "d", "k", value, default)


def test_choices_and_declared_types():
    assert coerce("dataset", "d", "kind", "count", "binary", choices=("binary", "count")) == "count"
    with pytest.raises(OptionError, match="dataset 'd': option kind='counts' is not one of binary, count"):
        coerce("dataset", "d", "kind", "counts", "binary", choices=("binary", "count"))
    assert coerce("dataset", "d", "path", "123", None, type_=str) == "123"  # declared str: no guessing


def test_unknown_options_list_the_valid_ones():
    with pytest.raises(OptionError, match="generator 'g': unknown option 'x'; valid options: a, b"):
        check_known("generator", "g", ["a", "x"], ["b", "a"])
    check_known("generator", "g", ["a"], ["a", "b"])


def test_a_spec_of_python_values_has_a_label_that_parses_back():
    """Specs built from objects (the Python API) carry Python values; their label is the grammar's
    text, so the manifest's configuration reruns the same generator."""
    from bench.core.options import GeneratorSpec
    from generators import registry

    spec = GeneratorSpec("medgan", {"gen_dims": (128, 64), "epochs": 3, "mode": "binary"})
    assert spec.label == "medgan:epochs=3,gen_dims=128-64,mode=binary"
    again = GeneratorSpec.parse(spec.label)
    assert registry.resolve_params(again) == registry.resolve_params(spec) == {
        "gen_dims": (128, 64), "epochs": 3, "mode": "binary"}
