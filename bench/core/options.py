"""The one option grammar: generators and datasets are named ``name`` or ``name:key=value,key=value``.

On the command line several specs share one comma-separated list. A token starts a new spec when
it has no ``=`` (``medgan``), or a ``:`` before its first ``=`` (``meddiff:steps=20``); any other
token continues the previous spec's options. So ``meddiff:steps=20,sampler=ddim,medgan`` is MedDiff
with two options, then medGAN, and a value may itself hold ``:``
(``file:path=C:/data/x.csv,label=y`` keeps the path whole; ``omop:path=postgres:DSN`` too). Values
that are lists use ``+`` (``omop:domains=condition+drug``), since ``,`` separates options.

A spec is parsed once, where the text enters (the CLI, ``load("toy:n_records=100")``); the run
configuration then holds the typed specs. :func:`coerce` turns an option's text into the type of
its declared default, with one error style for every kind of spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from bench.core.errors import OptionError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

S = TypeVar("S", bound="Spec")


@dataclass(frozen=True)
class Spec:
    """A name with its options as given (text from the command line, or Python values)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "spec"  # "generator", "dataset": the first word of every error message

    @property
    def label(self) -> str:
        """Canonical text of the spec: its name in every table, and text that parses back to it."""
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_as_text(v)}" for k, v in sorted(self.options.items()))

    @classmethod
    def parse(cls: type[S], text: str) -> S:
        """Exactly one spec from ``text``."""
        specs = parse_spec_list(text, cls)
        if len(specs) != 1:
            raise OptionError(f"expected one {cls.kind} spec, got {len(specs)} in {text!r}")
        return specs[0]

    @classmethod
    def parse_list(cls: type[S], text: str) -> list[S]:
        return parse_spec_list(text, cls)


@dataclass(frozen=True)
class GeneratorSpec(Spec):
    kind: ClassVar[str] = "generator"


@dataclass(frozen=True)
class DatasetSpec(Spec):
    kind: ClassVar[str] = "dataset"


def parse_spec_list(text: str, spec_type: type[S] = GeneratorSpec) -> list[S]:  # type: ignore[assignment]
    """Split ``a:k=v,k2=v2,b,c:k=v`` into specs of ``spec_type`` (see the module docstring)."""
    kind = spec_type.kind
    specs: list[tuple[str, dict[str, str]]] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        colon, eq = token.find(":"), token.find("=")
        if colon >= 0 and (eq < 0 or colon < eq):
            name, token = token[:colon].strip(), token[colon + 1 :].strip()
            if not name:
                raise OptionError(f"{kind} spec {raw.strip()!r} has options but no {kind} name")
            specs.append((name, {}))
            if not token:
                continue
        elif eq < 0:
            specs.append((token, {}))
            continue
        if not specs:
            raise OptionError(f"option {token!r} comes before any {kind} name")
        key, sep, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise OptionError(f"{kind} {specs[-1][0]!r}: option {token!r} is not key=value")
        if key in specs[-1][1]:
            raise OptionError(f"{kind} {specs[-1][0]!r}: option {key!r} given twice")
        specs[-1][1][key] = value
    if not specs:
        raise OptionError(f"no {kind} named")
    return [spec_type(n, o) for n, o in specs]


def check_known(kind: str, name: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise for the first option of ``given`` that is not in ``valid``, listing the valid ones."""
    valid = sorted(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise OptionError(f"{kind} {name!r}: unknown option {unknown[0]!r}; "
                          f"valid options: {', '.join(valid) or 'none'}")


def _wanted(want: type | None, default: Any) -> str:
    if want is bool:
        return "true/false"
    if want is int:
        return "an integer"
    if want is float:
        return "a number"
    if want is tuple:
        return "integers joined by '-' (e.g. 256-128)"
    return type(default).__name__


def coerce(kind: str, name: str, key: str, value: Any, default: Any, type_: type | None = None,
           choices: tuple[str, ...] | None = None) -> Any:
    """Option ``key`` of ``kind`` ``name`` as the type of its ``default`` (or ``type_`` when the
    default is None), checked against ``choices``.

    Text is converted (``true/yes/on/1`` and ``false/no/off/0`` for booleans, ``256-128`` for a
    tuple of integers, ``none`` for an option whose default is None); a Python value must already
    have the type (an int is accepted for a float). An option with neither a typed default nor
    ``type_`` takes the first of None, int, float, str that reads the text.
    """
    want = type_ or (type(default) if default is not None else None)
    if isinstance(value, str):
        text = value.strip()
        if default is None and text.lower() in ("", "none"):
            return None
        try:
            if want is bool:
                if text.lower() in _TRUE:
                    value = True
                elif text.lower() in _FALSE:
                    value = False
                else:
                    raise ValueError
            elif want is int:
                value = int(text)
            elif want is float:
                value = float(text)
            elif want is tuple:
                value = tuple(int(v) for v in text.split("-"))
            elif want is str or type_ is not None:
                value = text
            else:  # no typed default: the first reading that fits
                value = None if text.lower() == "none" else _guess(text)
        except ValueError:
            raise OptionError(f"{kind} {name!r}: option {key}={value!r} is not "
                              f"{_wanted(want, default)}") from None
    elif want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif want in (bool, int, float, str, tuple) and value is not None and not isinstance(value, want):
        if not (want is int and _is_integer(value)):
            raise OptionError(f"{kind} {name!r}: option {key}={value!r} should be {want.__name__}, "
                              f"not {type(value).__name__}")
        value = int(value)
    if choices is not None and value not in choices:
        raise OptionError(f"{kind} {name!r}: option {key}={value!r} is not one of {', '.join(choices)}")
    return value


def coerce_all(spec: Spec, declared: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``spec``'s options (or ``given``) coerced to the types of the ``declared`` defaults."""
    given = spec.options if given is None else given
    check_known(spec.kind, spec.name, given, declared)
    return {k: coerce(spec.kind, spec.name, k, v, declared[k]) for k, v in given.items()}


def _as_text(value: Any) -> Any:
    """An option value as the grammar writes it: a tuple of integers joined by ``-`` (what
    :func:`coerce` reads back), anything else as it is (text stays text)."""
    if isinstance(value, (tuple, list)):
        return "-".join(str(v) for v in value)
    return value


def _is_integer(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _guess(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_ints(text: str, option: str = "--seeds") -> list[int]:
    """Integers as every subcommand reads them (``--seeds`` above all): comma-separated, each item
    an integer or an inclusive range ``a-b`` (``0-9`` is ten seeds; ``0-2,5`` is 0, 1, 2, 5), in
    the order written. A bad item is an error naming ``option`` and the text."""
    out: list[int] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        try:
            a, b = (int(lo), int(hi)) if sep and lo.strip() else (int(item), int(item))
        except ValueError:
            raise OptionError(f"{option}: expected comma-separated integers, got {text!r} "
                              "(a range of integers is written 0-9)") from None
        if b < a:
            raise OptionError(f"{option}: the range {item!r} runs backwards (write {b}-{a})")
        out += range(a, b + 1)
    return out
