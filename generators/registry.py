"""Generators by name: ours, and third parties' through the ``ehrbench.generators`` entry points.

A third party ships a package whose ``pyproject.toml`` declares::

    [project.entry-points."ehrbench.generators"]
    mygen = "mypackage.module:MyGenerator"

and ``python -m bench list`` shows ``mygen`` with no change to this project.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from bench.core.errors import OptionError
from bench.core.options import GeneratorSpec, check_known, coerce
from generators.base import Generator

ENTRY_POINT_GROUP = "ehrbench.generators"

# name -> "module:Class"; imported only when used, so listing stays fast.
BUILTIN: dict[str, str] = {
    "independent": "generators.baselines:IndependentGenerator",
    "real-copy": "generators.baselines:RealCopyGenerator",
    "meddiff": "generators.meddiff:MedDiff",
    "ehrdiff": "generators.ehrdiff:EHRDiff",
    "ehrgpt": "generators.ehrgpt:EHRGPT",
    "medgan": "generators.gans.medgan:MedGAN",
    "medwgan": "generators.gans.medgan:MedWGAN",
    "medbgan": "generators.gans.medgan:MedBGAN",
    "emrwgan": "generators.gans.emrwgan:EMRWGAN",
    "corgan": "generators.gans.corgan:CorGAN",
    "dpgan": "generators.gans.dpgan:DPGAN",
    "ctgan": "generators.gans.sdv:CTGANGenerator",
    "tvae": "generators.gans.sdv:TVAEGenerator",
}

_extra: dict[str, type[Generator]] = {}


def register(cls: type[Generator], name: str | None = None) -> type[Generator]:
    """Register a generator class at run time (useful in notebooks and tests)."""
    _extra[name or cls.name] = cls
    return cls


def _plugin_targets() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    return sorted({*BUILTIN, *_plugin_targets(), *_extra})


def get_class(name: str) -> type[Generator]:
    if name in _extra:
        return _extra[name]
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:  # e.g. an optional extra not installed
            raise OptionError(f"generator {name!r} is unavailable: {exc}") from None
    else:
        plugins = _plugin_targets()
        if name not in plugins:
            raise OptionError(
                f"unknown generator {name!r}; valid generators: {', '.join(available())}"
            )
        try:
            cls = plugins[name].load()
        except Exception as exc:  # a broken third-party package must not hide the rest
            raise OptionError(f"generator plugin {name!r} failed to load: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Generator)):
        raise OptionError(f"generator {name!r} does not subclass generators.base.Generator")
    return cls


def resolve_params(spec: GeneratorSpec, preset: str | None = None) -> dict[str, Any]:
    """Published defaults, overridden by the preset, overridden by the user's options."""
    cls = get_class(spec.name)
    defaults = cls.param_defaults()
    params: dict[str, Any] = dict(cls.presets.get(preset, {})) if preset else {}
    check_known(spec.kind, spec.name, spec.options, (k for k in defaults if k != "random_state"))
    for key, text in spec.options.items():
        params[key] = coerce(spec.kind, spec.name, key, text, defaults[key])
    return params


def make(spec: GeneratorSpec | str, random_state: int | None = None, preset: str | None = None) -> Generator:
    """Build and validate a generator from a spec; a bad option raises before any work."""
    if isinstance(spec, str):
        spec = GeneratorSpec.parse(spec)
    cls = get_class(spec.name)
    gen = cls(**resolve_params(spec, preset), random_state=random_state)
    gen.validate_params()
    return gen
