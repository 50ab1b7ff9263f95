"""The package layout's rules (CONTRIBUTING.md, shared LAYOUT.md), read from the source's imports.

- No import loops between segcourse modules.
- Compute (``data``, ``ops``, ``models``, ``metrics``, ``train``, ``seed``) never imports ``draw``,
  ``widgets``, ``exercises``, ``checkpoints`` or ``tooling``; ``draw`` never imports ``widgets``;
  nothing in the library imports ``tooling``; ``import segcourse`` loads no tooling module.
- Every name on ``sc`` is exported once, and every ``sc.X`` a lesson uses exists.
- Exactly one module computes the repository root.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import segcourse as sc

PKG = Path(sc.__file__).resolve().parent
ROOT = PKG.parent
COMPUTE = ("data", "ops", "models", "metrics", "train", "seed")
ABOVE_COMPUTE = ("draw", "widgets", "exercises", "checkpoints", "tooling")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py") if "templates" not in p.parts}


def _imports(name: str, path: Path) -> set[str]:
    """The segcourse modules a module imports, at any depth of its code (function-level imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("segcourse")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("segcourse"):
                continue
            found.add(mod)
            for a in node.names:  # `from . import lesson00` imports a submodule
                if f"{mod}.{a.name}" in _MODULES:
                    found.add(f"{mod}.{a.name}")
    return {m for m in found if m in _MODULES and m != name}


_MODULES = _modules()
GRAPH = {name: _imports(name, path) for name, path in _MODULES.items()}


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "segcourse"


def _is_package_init(name: str) -> bool:
    return _MODULES[name].name == "__init__.py"


def test_no_import_loops():
    """Between modules (a package's __init__ re-exporting its own modules is not a loop)."""
    graph = {n: {m for m in deps if not (_is_package_init(m) and n.startswith(m + "."))}
             for n, deps in GRAPH.items()}
    state, loops = {}, []

    def visit(n, stack):
        state[n] = "open"
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                loops.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m, stack + [m])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, loops: {loops or 'none'}")
    assert not loops, "import loops:\n" + "\n".join(loops)


@pytest.mark.parametrize("layer", COMPUTE)
def test_compute_never_imports_upward(layer):
    bad = [f"{n} imports {m}" for n, deps in GRAPH.items() if _layer(n) == layer
           for m in deps if _layer(m) in ABOVE_COMPUTE]
    assert not bad, "\n".join(bad)


def test_draw_never_imports_widgets_and_nothing_imports_tooling():
    bad = [f"{n} imports {m}" for n, deps in GRAPH.items() for m in deps
           if (_layer(n) == "draw" and _layer(m) in ("widgets", "exercises", "checkpoints", "tooling"))
           or (_layer(n) != "tooling" and _layer(m) == "tooling")]
    assert not bad, "\n".join(bad)


def test_import_segcourse_loads_no_tooling():
    code = "import sys, segcourse; print(sorted(m for m in sys.modules if m.startswith('segcourse.tooling')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_subpackage_declares_its_exports():
    for name, path in _MODULES.items():
        if path.name == "__init__.py" and name not in ("segcourse.tooling",):
            mod = __import__(name, fromlist=["__all__"])
            assert hasattr(mod, "__all__"), f"{name} has no __all__"
            missing = [x for x in mod.__all__ if not hasattr(mod, x)]
            assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_sc_names_are_exported_once_and_all_exist():
    assert len(sc.__all__) == len(set(sc.__all__)), sorted(n for n in sc.__all__ if sc.__all__.count(n) > 1)
    assert all(hasattr(sc, n) for n in sc.__all__)
    public = {n for n in vars(sc) if not n.startswith("_")}
    subpackages = {"data", "ops", "models", "draw", "widgets", "exercises", "metrics", "train", "seed",
                   "checkpoints", "tooling"}  # tooling: only when something (tests) imported it
    assert public - set(sc.__all__) <= subpackages, sorted(public - set(sc.__all__) - subpackages)


def test_no_name_is_exported_by_two_subpackages():
    owners = {}
    for name in ("data", "ops", "models", "draw", "widgets", "exercises"):
        for x in __import__(f"segcourse.{name}", fromlist=["__all__"]).__all__:
            owners.setdefault(x, []).append(name)
    twice = {x: o for x, o in owners.items() if len(o) > 1}
    assert not twice, twice


def test_every_sc_name_a_lesson_uses_exists():
    used = {}
    for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py")):
        for name in re.findall(r"\bsc\.([A-Za-z_][A-Za-z_0-9]*)", path.read_text(encoding="utf-8")):
            used.setdefault(name, path.name)
    missing = {n: f for n, f in used.items() if not hasattr(sc, n)}
    assert not missing, f"sc.X used in lessons but missing: {missing}"


def test_one_module_computes_the_repository_root():
    hits = [p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py")
            if re.search(r"parents\[1\]|\.parent\.parent", p.read_text(encoding="utf-8"))]
    assert hits == ["segcourse/_paths.py"], hits
