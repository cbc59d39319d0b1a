"""What a dataset entry declares: its options (default, help, choices) and how it loads.

Option text is parsed and coerced by the one grammar of :mod:`bench.core.options`; this module
only says what each dataset accepts.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.data import EHRDataset
from bench.core.options import DatasetSpec, check_known, coerce
from bench.core.registry import load_target


@dataclass(frozen=True)
class Option:
    """One dataset option: its default (which also fixes its type), help text, allowed values."""

    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    type: type | None = None  # for defaults of None: the type of a given value


class Call:
    """A dataset's loader or cache-key function, given as the function or as ``"module:function"``
    text (imported on the first call, so listing datasets imports no adapter).

    Called as ``call(data_dir, **options)``; the function receives every option as a keyword, and
    ``data_dir`` (the CLI's ``--data-dir``, else the entry's environment variable) only when it
    has a ``data_dir`` parameter."""

    def __init__(self, target: str | Callable[..., Any] | Call) -> None:
        self.target = target.target if isinstance(target, Call) else target

    def __call__(self, data_dir: str | None, **options: Any) -> Any:
        fn = load_target(self.target) if isinstance(self.target, str) else self.target
        try:
            takes_dir = "data_dir" in inspect.signature(fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature: options only
            takes_dir = False
        return fn(**options, data_dir=data_dir) if takes_dir else fn(**options)

    def __repr__(self) -> str:
        return f"Call({self.target!r})"


@dataclass(frozen=True)
class DatasetEntry:
    """A named dataset: what the ``ehrbench.datasets`` registry holds, ours and plugins' alike.

    ``load`` builds it; ``cache_key`` names what it reads (files with size and mtime) so the cache
    can tell an unchanged input; it returns None when it cannot tell (a remote database).
    ``cache_key`` itself is None for datasets that are quicker to build than to read back. Both
    are functions or ``"module:function"`` text, called as :class:`Call` says. ``options``
    declares every option with its default; the loader receives all of them, coerced.
    """

    name: str
    description: str
    load: Callable[..., EHRDataset] | str
    cache_key: Callable[..., str | None] | str | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    env_var: str | None = None  # where the data is when neither path= nor data_dir says
    extra: str | None = None  # the optional dependency group it needs, for messages

    def __post_init__(self) -> None:
        object.__setattr__(self, "load", Call(self.load))
        if self.cache_key is not None:
            object.__setattr__(self, "cache_key", Call(self.cache_key))

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option: the defaults, overridden by ``options`` (text or Python values)."""
        check_known(DatasetSpec.kind, self.name, options, self.options)
        out = {k: o.default for k, o in self.options.items()}
        for k, v in options.items():
            o = self.options[k]
            out[k] = coerce(DatasetSpec.kind, self.name, k, v, o.default, o.type, o.choices)
        return out

    def data_dir(self, given: str | os.PathLike[str] | None) -> str | None:
        """Where user files are: ``--data-dir`` if given, else the entry's environment variable."""
        if given:
            return os.fspath(given)
        if self.env_var and os.environ.get(self.env_var):
            return os.environ[self.env_var]
        return None


def file_stamp(path: Path) -> str:
    """Identity of a file's content for cache keys: resolved path, size, modification time."""
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
