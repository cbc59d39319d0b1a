"""One option syntax for every generator: ``name`` or ``name:key=value,key=value``.

On the command line several specs share one comma-separated list, so a token holding ``=`` but no
``:`` continues the previous generator's options:
``meddiff:steps=20,sampler=ddim,medgan`` is MedDiff with two options, then medGAN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.core.errors import OptionError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Canonical text of the spec: the generator's name in every table."""
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))

    @classmethod
    def parse(cls, text: str) -> GeneratorSpec:
        specs = parse_spec_list(text)
        if len(specs) != 1:
            raise OptionError(f"expected one generator spec, got {len(specs)} in {text!r}")
        return specs[0]


def parse_spec_list(text: str) -> list[GeneratorSpec]:
    specs: list[tuple[str, dict[str, str]]] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        if ":" in token:
            name, _, first = token.partition(":")
            name = name.strip()
            if not name:
                raise OptionError(f"generator spec {token!r} has options but no generator name")
            specs.append((name, {}))
            token = first.strip()
            if not token:
                continue
        elif "=" not in token:
            specs.append((token, {}))
            continue
        if not specs:
            raise OptionError(f"option {token!r} comes before any generator name")
        key, eq, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise OptionError(f"generator {specs[-1][0]!r}: option {token!r} is not key=value")
        if key in specs[-1][1]:
            raise OptionError(f"generator {specs[-1][0]!r}: option {key!r} given twice")
        specs[-1][1][key] = value
    if not specs:
        raise OptionError("no generator named")
    return [GeneratorSpec(n, o) for n, o in specs]


def coerce(generator: str, key: str, value: str, default: Any) -> Any:
    """Turn the option text into the type of the parameter's default."""
    try:
        if isinstance(default, bool):
            low = value.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(int(v) for v in value.split("-"))
        if isinstance(default, str):
            return value
    except ValueError:
        want = "true/false" if isinstance(default, bool) else type(default).__name__
        if isinstance(default, tuple):
            want = "integers joined by '-' (e.g. 256-128)"
        raise OptionError(
            f"generator {generator!r}: option {key}={value!r} is not a valid {want}"
        ) from None
    # default None or another type: best guess
    if value.lower() == "none":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
