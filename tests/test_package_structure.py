"""The package's layering, checked from its source: no import cycle (lazy imports inside
functions count too: they hide a cycle from the interpreter, not from the reader), the priors
depend on nothing in datasets/, every module imports in a fresh interpreter, and the old
``mlff_ttt.ase`` import path still gives the calculator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mlff_ttt

PACKAGE = Path(mlff_ttt.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports_outside_main_block(tree: ast.Module):
    """Every import statement, at any depth, except under ``if __name__ == "__main__":`` (that
    block runs only when the module is the program, never when it is imported)."""
    def main_block(node) -> bool:
        test = getattr(node, "test", None)
        return (isinstance(node, ast.If) and isinstance(test, ast.Compare)
                and isinstance(test.left, ast.Name) and test.left.id == "__name__")

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not main_block(child))


def imported_modules(name: str) -> set:
    """The package's modules that module ``name`` imports: for each name a statement imports,
    the most specific module it names (``from ..priors import get_prior``: mlff_ttt.priors;
    ``from ..datasets import silicon``: mlff_ttt.datasets and mlff_ttt.datasets.silicon,
    both of which run)."""
    found = set()
    tree = ast.parse(MODULES[name].read_text())
    package = name if is_package(name) else name.rpartition(".")[0]
    for node in imports_outside_main_block(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif node.level == 0:
            targets = [node.module] if node.module else []
            targets += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # the most specific module of the package the target names
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def test_the_graph_sees_the_package():
    assert {"mlff_ttt.model_file", "mlff_ttt.refine.ttt", "mlff_ttt.plugin.entry_points",
            "mlff_ttt.priors.lammps_priors", "mlff_ttt.datasets.silicon"} <= set(MODULES)
    assert "mlff_ttt.model_file" in GRAPH["mlff_ttt.export"]
    assert "mlff_ttt.refine.ttt" in GRAPH["mlff_ttt.export"]     # a lazy import, counted


def test_the_package_has_no_import_cycle():
    """Depth-first search for a back edge; the message names one cycle."""
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_priors_depend_on_nothing_in_datasets():
    """The datasets label their frames with the priors, not the reverse."""
    for name, targets in GRAPH.items():
        if name.startswith("mlff_ttt.priors"):
            assert not [t for t in targets if t.startswith("mlff_ttt.datasets")], name


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(MODULES)
    code = "import importlib\nfor name in %r:\n    importlib.import_module(name)\n" % names
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_mlff_ttt_ase_still_gives_the_calculator():
    from mlff_ttt.ase import MLFFCalculator
    from mlff_ttt.calculator import MLFFCalculator as calculator

    assert MLFFCalculator is calculator
