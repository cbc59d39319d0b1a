"""The walk of a call through the project's modules, measured with ``sys.setprofile``.

Not a test module: ``tests/test_check.py`` imports it to hold ``bench check`` to one walk down the
modules; run as a script it prints the walk of a check of a tiny baseline (``toy``,
``independent`` and ``real-copy``, five seeds, two metric families)::

    python tests/module_walk.py

The definition, a reader following the code: a *stop* is a call that makes a module active (no
frame of it on the stack) through a function not called before, each function followed once (a
loop over jobs is read once); a *return* is a stop at a module that had been active and was
left. Reading a property is reading data, not a stop, and a comprehension or a lambda is part of
the function that holds it; the job's own work (``bench.jobs.run_job`` and below: training,
sampling, scoring) is one step, not followed.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import CodeType

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "generators", "metrics")


def module_of(filename: str, root: Path = ROOT) -> str | None:
    try:
        rel = Path(filename).resolve().relative_to(root)
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] not in PACKAGES or rel.suffix != ".py":
        return None
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def _property_code() -> set[CodeType]:
    """The getters of every property of the project's classes loaded now."""
    out = set()
    for name, mod in list(sys.modules.items()):
        if name.partition(".")[0] not in PACKAGES:
            continue
        for cls in vars(mod).values():
            if not isinstance(cls, type) or cls.__module__ != name:
                continue
            for attr in vars(cls).values():
                getter = attr.fget if isinstance(attr, property) else attr.func if isinstance(attr, cached_property) \
                    else None
                if getter is not None and hasattr(getter, "__code__"):
                    out.add(getter.__code__)
    return out


@dataclass
class Walk:
    stops: list[tuple[str, str, bool]] = field(default_factory=list)  # (module, function, a return)

    @property
    def returns(self) -> Counter:
        return Counter(m for m, _, again in self.stops if again)

    def modules(self) -> list[str]:
        return [m for m, _, _ in self.stops]

    def text(self) -> str:
        return " -> ".join(f"{m.removeprefix('bench.')}{'*' if again else ''}" for m, _, again in self.stops)


def walk(fn: Callable[[], object], keep: Callable[[str], bool] = lambda m: True, root: Path = ROOT
         ) -> tuple[object, Walk]:
    """Run ``fn`` and return its result and its walk over the modules ``keep`` accepts."""
    out, seen, active, entered, cache = Walk(), set(), Counter(), set(), {}
    properties = _property_code()
    skip: list = []

    def profile(frame, event, arg):
        if skip:
            if event == "return" and frame is skip[0]:
                skip.clear()
            return
        if event not in ("call", "return"):
            return
        code = frame.f_code
        name = code.co_filename
        mod = cache[name] if name in cache else cache.setdefault(name, module_of(name, root))
        if mod is None or not keep(mod) or code in properties or code.co_name.startswith("<"):
            return  # outside the walk, a property read, or a comprehension or lambda (part of its function)
        if event == "return":
            active[mod] -= 1
            return
        if mod == "bench.jobs" and code.co_name == "run_job":
            skip.append(frame)
            return
        if active[mod] == 0 and code not in seen:
            out.stops.append((mod, code.co_name, mod in entered))
            entered.add(mod)
        seen.add(code)
        active[mod] += 1

    sys.setprofile(profile)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return result, out


def harness_layers(module: str) -> bool:
    """The CLI, API and harness layers: ``bench`` but its bottom layer and the dataset adapters."""
    return module.startswith("bench.") and not module.startswith(("bench.core", "bench.datasets"))


def main() -> None:
    import tempfile

    from bench.cli import main as bench

    path = Path(tempfile.mkdtemp()) / "b.json"
    assert bench(["check", "--update", "--baseline", str(path), "-g", "independent", "-d", "toy", "-s", "0-4",
                  "-m", "dimwise_probability,tstr_lr", "--no-progress", "--reason", "walk", "--force"]) == 0
    for title, keep in (("the CLI, API and harness layers", harness_layers), ("every module", lambda m: True)):
        rc, w = walk(lambda: bench(["check", "--baseline", str(path), "--no-progress"]), keep)
        print(f"== {title}: exit {rc}; {len(w.stops)} stops, {sum(w.returns.values())} returns to a module left "
              f"{dict(w.returns.most_common())}\n{w.text()}\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
