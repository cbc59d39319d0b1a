"""The module graph only points down (docs/architecture.md), checked on the source with ``ast``.

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING``. A module
imports another of the project when it names it (``import a.b``, ``from a import b``, ``from a.b
import name``); the package ``__init__`` Python runs on the way is not counted, so a package may
re-export its submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "generators", "metrics")
MAX_LINES = 450
# Known exceptions to the size rule, each with why it still stands (none today):
OVERSIZE: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import a.b.c` of a non-module: its package
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _cycle() -> list[str] | None:
    """One import cycle of the graph, if any (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in colour and (found := visit(node)):
            return found
    return None


def test_the_walk_sees_the_project():
    assert {"bench.core.options", "bench.harness", "bench.executors.process", "generators.registry",
            "metrics.detection"} <= set(MODULES)
    assert "bench.executors.supervision" in GRAPH["bench.executors.process"]  # `from a.b import name`
    assert "bench.core.errors" in GRAPH["bench.core.options"]  # a module-level import
    assert "generators._torch" in GRAPH["bench.provenance"]  # an import inside a function


def test_no_import_cycle_lazy_or_not():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_bottom_layer_imports_nothing_above_it():
    bad = {m: sorted(t for t in GRAPH[m] if not _in(t, "bench.core")) for m in MODULES if _in(m, "bench.core")}
    assert not {m: t for m, t in bad.items() if t}


def test_generators_metrics_and_dataset_adapters_import_only_the_bottom_layer_of_bench():
    bad = {}
    for m in MODULES:
        if _in(m, "generators") or _in(m, "metrics"):
            allowed = ("bench.core",)
        elif _in(m, "bench.datasets"):
            allowed = ("bench.core", "bench.datasets")
        else:
            continue
        wrong = sorted(t for t in GRAPH[m] if _in(t, "bench") and not any(_in(t, a) for a in allowed))
        if wrong:
            bad[m] = wrong
    assert not bad


def test_executors_receive_the_job_function_instead_of_importing_the_harness():
    for m in MODULES:
        if _in(m, "bench.executors"):
            assert not GRAPH[m] & {"bench.harness", "bench.jobs", "bench.config", "bench.cli"}, m


def test_no_module_is_over_the_size_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES.values()}
    over = {p: n for p, n in sizes.items() if n > MAX_LINES and p not in OVERSIZE}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_the_checks_can_fail():
    """The cycle search and the layer rule find what they are for, on a made-up graph."""
    saved = dict(GRAPH)
    try:
        GRAPH["bench.core.errors"] = {"bench.harness"}
        assert _cycle() is not None  # harness -> ... -> core.errors -> harness
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
    assert _cycle() is None
