"""Generators by name, and the one way to build one.

Names come from :class:`bench.core.registry.Registry`: the built-ins below, the
``ehrbench.generators`` entry points of installed packages, and classes registered at run time.
A third party ships a package whose ``pyproject.toml`` declares::

    [project.entry-points."ehrbench.generators"]
    mygen = "mypackage.module:MyGenerator"

and ``python -m bench list`` shows ``mygen`` with no change to this project
(``examples/plugin/`` is such a package).

Every generator the project builds, the harness's included, is built by :func:`build`
(construct from hyperparameters, then ``validate_params``); :func:`resolve_params` decides the
hyperparameters (published defaults < preset < the user's options) and :func:`make` does both.
"""

from __future__ import annotations

from typing import Any

from bench.core.errors import OptionError
from bench.core.options import GeneratorSpec, check_known, coerce
from bench.core.registry import Registry, subclass_of
from generators.base import SUITE_PRESETS, Generator

ENTRY_POINT_GROUP = "ehrbench.generators"

# name -> "module:Class", the text an entry point holds; imported only when used, so listing stays fast.
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

GENERATORS: Registry[type[Generator]] = Registry(
    "generator", ENTRY_POINT_GROUP, BUILTIN, subclass_of(Generator, "generators.base.Generator"))
_extra = GENERATORS._extra  # the classes registered at run time (tests remove theirs from it)


def register(cls: type[Generator], name: str | None = None) -> type[Generator]:
    """Register a generator class at run time (a notebook, a test); usable as a decorator."""
    return GENERATORS.register(cls, name)


def available() -> list[str]:
    return GENERATORS.available()


def get_class(name: str) -> type[Generator]:
    return GENERATORS.get(name)


def check_preset(cls: type[Generator], name: str, preset: str | None) -> None:
    """A preset must be the generator's own or one of the suite's (``cpu``, ``quick``), which a
    generator with nothing to scale (a baseline) runs at its defaults; never silently empty."""
    if preset is None or preset in cls.presets or preset in SUITE_PRESETS:
        return
    known = sorted({*SUITE_PRESETS, *cls.presets})
    raise OptionError(f"generator {name!r}: unknown preset {preset!r}; valid presets: {', '.join(known)}")


def resolve_params(spec: GeneratorSpec, preset: str | None = None) -> dict[str, Any]:
    """Published defaults, overridden by the preset, overridden by the user's options.

    Returns only what departs from the defaults (the preset's values and the options), so a
    run's job keys and manifest name exactly what was changed."""
    cls = get_class(spec.name)
    check_preset(cls, spec.name, preset)
    defaults, types = cls.param_defaults(), cls.param_types()
    params: dict[str, Any] = dict(cls.presets.get(preset, {})) if preset else {}
    check_known(spec.kind, spec.name, spec.options, (k for k in defaults if k != "random_state"))
    for key, value in spec.options.items():
        params[key] = coerce(spec.kind, spec.name, key, value, defaults[key], types.get(key))
    return params


def build(cls: type[Generator], params: dict[str, Any], random_state: int | None = None) -> Generator:
    """The generator ``cls(**params, random_state=...)``, validated: a bad option raises
    :class:`OptionError` here, before any work. The one place a generator is constructed."""
    gen = cls(**params, random_state=random_state)
    gen.validate_params()
    return gen


def make(spec: GeneratorSpec | str, random_state: int | None = None, preset: str | None = None,
         **options: Any) -> Generator:
    """Build and validate a generator from a spec (``"meddiff:steps=20"``) or a name, the preset's
    values and keyword ``options`` (Python values, checked as the spec's text is)."""
    if isinstance(spec, str):
        spec = GeneratorSpec.parse(spec)
    clash = sorted(set(spec.options) & set(options))
    if clash:
        raise OptionError(f"generator {spec.name!r}: option {clash[0]!r} given twice")
    if options:
        spec = GeneratorSpec(spec.name, {**spec.options, **options})
    return build(get_class(spec.name), resolve_params(spec, preset), random_state)


def describe(name: str) -> dict[str, Any]:
    """What ``bench list`` shows of one generator: summary, paper, options with their defaults,
    presets (each a set of overrides), conditioning, supported kinds, departures, variants."""
    cls = get_class(name)
    doc = (cls.__doc__ or "").strip()
    return {
        "name": name,
        "origin": GENERATORS.origin(name),
        "summary": doc.splitlines()[0] if doc else "",
        "reference": cls.reference,
        "options": {k: v for k, v in cls.param_defaults().items() if k != "random_state"},
        "presets": {p: dict(v) for p, v in cls.presets.items()},
        "conditional": cls.supports_conditioning is True,
        "kinds": list(cls.supported_kinds),
        "is_reference": cls.is_reference,
        "departures": cls.departures.to_json(),
        "variants": dict(cls.variants),
    }
