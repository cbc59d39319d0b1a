"""``python -m bench list [generators|datasets|metrics] [NAME]``: what can be run, and how.

Each generator with its summary, paper, whether it conditions on the label, its options with
their defaults and its presets (each the overrides it applies); each dataset with its options
(default and help); each metric with its scores, each score's goal and ideal. Plugins are listed
beside the built-ins, with the package they come from; one that fails to load says why instead
of hiding the rest.
"""

from __future__ import annotations

import textwrap
from typing import Any

from bench import datasets as dataset_registry
from bench.core.errors import OptionError
from bench.datasets.registry import DATASETS
from generators import registry as generator_registry
from metrics import registry as metric_registry

KINDS = ("generators", "datasets", "metrics")
WIDTH = 100


def _wrap(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=pad, subsequent_indent=pad + "  ", break_on_hyphens=False) or [pad]


def _value(v: Any) -> str:
    if isinstance(v, tuple):
        return "-".join(str(x) for x in v)
    if isinstance(v, bool):
        return str(v).lower()
    return "none" if v is None else str(v)


def _origin(origin: str) -> str:
    return "" if origin == "built-in" else f" ({origin})"


def generator_lines(name: str) -> list[str]:
    d = generator_registry.describe(name)
    cond = "conditional" if d["conditional"] else "label learned as a column"
    lines = [f"{name}{_origin(d['origin'])}: {d['summary']}"]
    lines += _wrap(f"paper: {d['reference'] or 'none (a reference point)'}", 4)
    lines += _wrap(f"kinds: {', '.join(d['kinds'])}; {cond}" + ("; a reference, never ranked" if d["is_reference"]
                                                                 else ""), 4)
    options = ", ".join(f"{k}={_value(v)}" for k, v in d["options"].items())
    lines += _wrap(f"options (defaults): {options or 'none'}", 4)
    if d["presets"]:
        for preset, over in d["presets"].items():
            text = ", ".join(f"{k}={_value(v)}" for k, v in over.items()) or "the defaults"
            lines += _wrap(f"preset {preset}: {text}", 4)
    else:
        lines += _wrap("presets: none (runs its defaults under any preset)", 4)
    if d["variants"]:
        lines += _wrap("rows of -g all: " + "; ".join(f"{k} = {v}" for k, v in d["variants"].items()), 4)
    return lines


def dataset_lines(name: str) -> list[str]:
    found = dataset_registry.entry(name)
    origin = DATASETS.origin(name)
    lines = [f"{name}{_origin(origin)}: {found.description}"]
    for key, default, text in dataset_registry.describe_options(name):
        lines += _wrap(f"{key}={_value(default)}  {text}", 4)
    if found.extra:
        lines += _wrap(f"needs: pip install 'ehrbench[{found.extra}]'", 4)
    return lines


def metric_lines(name: str) -> list[str]:
    d = metric_registry.describe(name)
    suite = "" if d["default"] else " (not in the default suite)"
    lines = [f"{name}{_origin(d['origin'])} [{d['category']}]: {d['description']}{suite}"]
    for s in d["scores"]:
        ideal = "" if s["ideal"] is None else f", ideal {s['ideal']}"
        ref = "; a real-data reference, not ranked" if s["reference"] else ""
        lines += _wrap(f"{s['score']}: {s['goal']}{ideal}{ref}", 4)
    return lines


LISTERS = {
    "generators": (generator_registry.available, generator_lines),
    "datasets": (dataset_registry.available, dataset_lines),
    "metrics": (metric_registry.available, metric_lines),
}


def kind_of(text: str | None) -> str | None:
    """``generators`` for ``generators``/``generator``; an unknown kind lists the valid ones."""
    if text is None:
        return None
    for kind in KINDS:
        if text in (kind, kind[:-1]):
            return kind
    raise OptionError(f"bench list: unknown kind {text!r}; valid kinds: {', '.join(KINDS)}")


def listing(kind: str | None = None, name: str | None = None) -> str:
    """The text ``bench list`` prints: every kind, one kind, or one name of a kind."""
    kind = kind_of(kind)
    if name is not None and kind is None:
        raise OptionError("bench list: name the kind before the name, e.g. bench list generators medgan")
    out: list[str] = []
    for k in [kind] if kind else list(KINDS):
        names_of, lines_of = LISTERS[k]
        names = names_of()
        if name is not None:
            if name not in names:
                raise OptionError(f"unknown {k[:-1]} {name!r}; valid {k}: {', '.join(names)}")
            names = [name]
        else:
            out.append(f"{k}:")
        for n in names:
            try:
                lines = lines_of(n)
            except Exception as exc:  # an optional extra missing, a broken plugin: say so, list the rest
                lines = [f"{n}: (unavailable: {exc})"]
            out += lines if name is not None else ["  " + line for line in lines]
        if name is None:
            out.append("")
    return "\n".join(out).rstrip() + "\n"
