"""The house rules a newcomer relies on: layers without cycles, short functions in the engine,
and what a regularizer or model is, declared in its own files."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from aectl.devtools import imports

ENGINE = ROOT / "aectl" / "training"
MAX_LINES = 60


def test_no_import_cycles_and_no_upward_imports():
    g = imports.graph()
    assert imports.cycles(g) == []
    assert imports.upward_edges(g) == []


def test_the_checker_finds_a_cycle_and_an_upward_edge():
    g = {"aectl.models.mlp": {"aectl.training.step"}, "aectl.training.step": {"aectl.models.mlp"}}
    assert imports.cycles(g) == [["aectl.models.mlp", "aectl.training.step"]]
    assert imports.upward_edges(g) == [("aectl.models.mlp", "aectl.training.step")]


def test_the_checker_reads_lazy_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from aectl.training import checkpoint\n")
    assert "aectl.training.checkpoint" in imports.imports_of(src, "aectl.models.m")


def test_the_layer_graph_prints_and_passes():
    r = subprocess.run(
        [sys.executable, "-m", "aectl.devtools.imports"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "training" in r.stdout and "no cycles, no upward imports" in r.stdout


def test_every_engine_function_fits_on_a_screen():
    long = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert not long, long


def test_the_engine_names_no_option():
    """The engine asks regularizers and models what they are; it does not test their names."""
    needles = ('.name == "', ".arch == ", '"denoising"', '"pca"')
    found = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in sorted((ROOT / "aectl").rglob("*.py"))
        if p.parent.name in ("training", "record", "sweeps", "bench", "commands")
        for n in needles
        if n in p.read_text()
    ]
    assert not found, found


def test_every_regularizer_declares_its_bench_rows():
    from aectl.bench.run import REGULARIZERS
    from aectl.config.schema import all_schemas

    names = {label.split()[0] for label, _, _ in REGULARIZERS}
    assert names == set(all_schemas()["regularizer"]), names


def test_no_module_is_left_at_the_top_but_the_shared_ones():
    top = sorted(p.stem for p in (ROOT / "aectl").glob("*.py"))
    assert top == ["__init__", "__main__", "atomic", "cli", "errors", "faults", "lock", "paths"], (
        top
    )


def test_developing_md_names_every_layer():
    text = Path(ROOT / "DEVELOPING.md").read_text()
    for name, _ in imports.LAYERS:
        assert f"`{name}`" in text or f"aectl/{name}/" in text, name
