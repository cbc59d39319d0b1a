"""The one plugin registry: generators, metrics and datasets are found by name the same way.

A :class:`Registry` holds named *targets*, ``"module:attribute"`` text that is imported only when
the name is used (so ``bench list`` and ``--help`` stay fast). Targets come from three places, in
this order of precedence:

1. objects registered at run time with :meth:`Registry.register` (a notebook, a test);
2. the project's own built-ins, a ``name -> "module:attribute"`` table in the kind's registry
   module (``generators/registry.py``, ``metrics/registry.py``); a built-in may also be the object
   itself when holding it costs nothing (a dataset entry, whose loader imports its adapter late);
3. the entry points of installed packages, in the kind's group (``ehrbench.generators``,
   ``ehrbench.metrics``, ``ehrbench.datasets``), which hold the same ``"module:attribute"`` text.

Built-ins and third-party plugins are loaded by the same code path (:func:`load_target`) and
checked by the same rule (the registry's ``check``: a subclass of the kind's base class, or a
dataset entry). The built-ins are not themselves declared as entry points of this project's
``pyproject.toml``: entry points live in the installed package's metadata, so a source checkout
used without ``pip install``, or an editable install whose metadata predates a new built-in, would
silently lose them. A plugin cannot replace a built-in of the same name: the built-in wins.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from bench.core.errors import OptionError

T = TypeVar("T")


def load_target(target: str) -> Any:
    """The object ``"package.module:attribute"`` names (``a.b`` attributes walked after the colon)."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{target!r} is not 'module:attribute'")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names of one kind (``generator``, ``metric``, ``dataset``) and what they stand for.

    ``check(obj)`` returns None when ``obj`` is a valid member, else the reason it is not (shown in
    the error that refuses it).
    """

    def __init__(self, kind: str, group: str, builtin: Mapping[str, Any],
                 check: Callable[[Any], str | None]) -> None:
        self.kind = kind
        self.group = group
        self.builtin = builtin  # held, not copied: the table's module may add to it
        self._check = check
        self._extra: dict[str, T] = {}

    # ------------------------------------------------------------------ sources
    def plugins(self) -> dict[str, Any]:
        """The installed packages' entry points of this kind (name -> entry point)."""
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def register(self, obj: T, name: str | None = None) -> T:
        """Add ``obj`` under ``name`` (default: its ``name``) for this process; returns ``obj``,
        so it can decorate a class."""
        name = name or getattr(obj, "name", "")
        if not name:
            raise OptionError(f"{self.kind} {obj!r}: register it with a name (it has no 'name')")
        problem = self._check(obj)
        if problem:
            raise OptionError(f"{self.kind} {name!r}: {problem}")
        self._extra[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Remove a name added by :meth:`register` (a test's cleanup); built-ins stay."""
        self._extra.pop(name, None)

    # ------------------------------------------------------------------ lookup
    def available(self) -> list[str]:
        """Every name, sorted: built-ins, installed plugins and those registered at run time."""
        return sorted({*self.builtin, *self.plugins(), *self._extra})

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: ``built-in``, ``registered`` or the plugin's distribution."""
        if name in self._extra:
            return "registered"
        if name in self.builtin:
            return "built-in"
        ep = self.plugins().get(name)
        dist = getattr(ep, "dist", None)
        return f"plugin {dist.name}" if dist is not None else "plugin"

    def get(self, name: str) -> T:
        """The object ``name`` stands for; an unknown name lists the valid ones."""
        if name in self._extra:
            return self._extra[name]
        if name in self.builtin:
            target = self.builtin[name]
            try:
                obj = load_target(target) if isinstance(target, str) else target
            except (ImportError, AttributeError) as exc:  # e.g. an optional extra not installed
                raise OptionError(f"{self.kind} {name!r} is unavailable: {exc}") from None
        else:
            plugins = self.plugins()
            if name not in plugins:
                raise OptionError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.available())}")
            try:
                obj = plugins[name].load()
            except Exception as exc:  # a broken third-party package must not hide the rest
                raise OptionError(f"{self.kind} plugin {name!r} ({plugins[name].value}) failed to load: "
                                  f"{type(exc).__name__}: {exc}") from None
        problem = self._check(obj)
        if problem:
            raise OptionError(f"{self.kind} {name!r}: {problem}")
        return obj

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.available()


def subclass_of(base: type, where: str) -> Callable[[Any], str | None]:
    """A ``check`` for registries of classes: ``obj`` must subclass ``base``."""
    def check(obj: Any) -> str | None:
        if isinstance(obj, type) and issubclass(obj, base):
            return None
        return f"{obj!r} does not subclass {where}"
    return check
