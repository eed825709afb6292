"""The layer graph of aectl's modules: prints it, and fails on a cycle or an upward import.

Every `aectl` module belongs to a layer (its package, or a top-level module), and a layer
may import only from layers below it. The imports are read from the source with `ast`,
the lazy ones inside functions included, so a cycle cannot hide behind a deferred import.

    python -m aectl.devtools.imports          # the graph, then the violations; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# Lowest first. A module may import from its own layer and any layer before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        ("aectl", "aectl.errors", "aectl.paths", "aectl.faults", "aectl.atomic", "aectl.lock"),
    ),
    ("config", ("aectl.config",)),
    ("data", ("aectl.data",)),
    ("models", ("aectl.models",)),
    ("regularizers", ("aectl.regularizers",)),
    ("record", ("aectl.record",)),
    ("analysis", ("aectl.analysis",)),
    ("training", ("aectl.training",)),
    ("sweeps", ("aectl.sweeps",)),
    ("bench", ("aectl.bench",)),
    ("commands", ("aectl.commands",)),
    ("cli", ("aectl.cli", "aectl.__main__")),
    ("devtools", ("aectl.devtools",)),
]
RANK = {prefix: i for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The rank of the longest layer prefix that `module` falls under."""
    best, rank = "", None
    for prefix, r in RANK.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, r
    if rank is None:
        raise ValueError(f"{module}: in no layer; add it to aectl.devtools.imports.LAYERS")
    return rank


def imports_of(path: Path, module: str) -> set[str]:
    """The aectl modules `path` imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    modules = all_modules()
    return {m for m in found if m in modules and m != module}


_ALL: dict[str, Path] = {}


def all_modules() -> dict[str, Path]:
    if not _ALL:
        for path in sorted(PACKAGE.rglob("*.py")):
            _ALL[module_name(path)] = path
    return _ALL


def graph() -> dict[str, set[str]]:
    return {m: imports_of(p, m) for m, p in all_modules().items()}


def upward_edges(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports of a module from a layer above its own (the package root `aectl` excepted,
    which holds only the version)."""
    return sorted(
        (a, b) for a, deps in g.items() for b in deps if b != "aectl" and layer_of(b) > layer_of(a)
    )


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def layer_graph(g: dict[str, set[str]]) -> dict[str, set[str]]:
    names = [name for name, _ in LAYERS]
    edges: dict[str, set[str]] = defaultdict(set)
    for a, deps in g.items():
        for b in deps:
            la, lb = names[layer_of(a)], names[layer_of(b)]
            if la != lb and b != "aectl":
                edges[la].add(lb)
    return edges


def main() -> int:
    g = graph()
    names = [name for name, _ in LAYERS]
    edges = layer_graph(g)
    print("aectl layers, lowest first (each may import only the layers before it):")
    for name in names:
        below = sorted(edges.get(name, ()), key=names.index)
        print(f"  {name:<13} imports {', '.join(below) if below else '-'}")
    bad = upward_edges(g)
    loops = cycles(g)
    for a, b in bad:
        print(f"upward import: {a} -> {b}")
    for loop in loops:
        print(f"import cycle: {' <-> '.join(loop)}")
    if bad or loops:
        return 1
    print("no cycles, no upward imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
