"""The import rules of docs/architecture.md, checked on the source tree.

Imports go one way, down the pipeline: a module may import from its own package or from a
layer below its own, never from a layer above nor from a sibling package on the same layer,
and no chain of imports, lazy ones included, leads back to where it started. Private names
stay in the module that defines them. The check reads the source with :mod:`ast`, so it
sees imports inside functions and under ``TYPE_CHECKING`` that a runtime check would miss.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "mediaguard"

#: Top to bottom. The key is a module's first name under ``mediaguard`` (a package or a
#: top-level module); ``""`` is the package's own ``__init__``, the public API.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"", "cli"}),
    frozenset({"commands"}),
    frozenset({"engines"}),
    frozenset({"service"}),
    frozenset({"review", "redaction"}),
    frozenset({"dsa"}),
    frozenset({"live"}),
    frozenset({"scanner"}),
    frozenset({"lists"}),
    frozenset({"store"}),
    frozenset({"config"}),
    frozenset({"verdict"}),
    frozenset({"timeline"}),
    frozenset({"policy"}),
    frozenset({"match"}),
    frozenset({"signals"}),
    frozenset({"media"}),
    frozenset({"samples"}),
    frozenset({"errors", "iterutil", "paths"}),
)
LAYER_OF = {part: depth for depth, parts in enumerate(LAYERS) for part in parts}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as found in a module's source."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The deepest mediaguard module that ``name`` refers to, if any."""
    modules = _modules()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def parse_imports(module: str, is_package: bool, text: str) -> list[Import]:
    """Every import in ``text`` (the source of ``module``) of another mediaguard module."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target and target != module:
                    found.append(Import(module, target, (), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                # ``from mediaguard import media`` imports the subpackage, not __init__.
                submodule = _resolve(f"{origin}.{alias.name}")
                if submodule == f"{origin}.{alias.name}":
                    target, names = submodule, ()
                else:
                    target, names = _resolve(origin), (alias.name,)
                if target and target != module:
                    found.append(Import(module, target, names, node.lineno))
    return found


@cache
def _imports() -> tuple[Import, ...]:
    return tuple(
        imp
        for module, path in _modules().items()
        for imp in parse_imports(module, path.name == "__init__.py", path.read_text("utf-8"))
    )


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_top_level_name_has_a_layer() -> None:
    unplaced = sorted({_part(m) for m in _modules()} - LAYER_OF.keys())
    assert not unplaced, f"add these to LAYERS and docs/architecture.md: {unplaced}"


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """Each import that goes up a layer or across to a sibling package."""
    wrong = []
    for imp in imports:
        here, there = _part(imp.source), _part(imp.target)
        if here == there:
            continue
        if LAYER_OF[there] <= LAYER_OF[here]:
            kind = "a sibling" if LAYER_OF[there] == LAYER_OF[here] else "a layer above"
            wrong.append(f"{imp.source}:{imp.line} imports {imp.target} ({kind})")
    return wrong


def test_imports_go_down_the_layers() -> None:
    wrong = layer_violations(_imports())
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for imp in _imports():
        graph[imp.source].add(imp.target)
    # Tarjan's strongly connected components; any component of two or more is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


def test_private_names_stay_home() -> None:
    wrong: set[str] = set()
    for imp in _imports():
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private:
            wrong.add(f"{imp.source}:{imp.line} imports {private} from {imp.target}")
        leaf = imp.target.rpartition(".")[2]
        if leaf.startswith("_") and not leaf.startswith("__"):
            owner = imp.target.rpartition(".")[0]
            if not imp.source.startswith(owner + ".") and imp.source != owner:
                wrong.add(f"{imp.source}:{imp.line} imports {imp.target}, private to {owner}")
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize(
    ("module", "text", "target", "names"),
    [
        ("mediaguard.scanner", "from mediaguard import media", "mediaguard.media", ()),
        ("mediaguard.scanner", "from mediaguard.errors import X", "mediaguard.errors", ("X",)),
        ("mediaguard.media.image", "from . import sniff", "mediaguard.media.sniff", ()),
        ("mediaguard.media.image", "from ..errors import X", "mediaguard.errors", ("X",)),
        (
            "mediaguard.media.image",
            "import mediaguard.signals.hashes",
            "mediaguard.signals.hashes",
            (),
        ),
    ],
)
def test_the_checker_resolves_imports(
    module: str, text: str, target: str, names: tuple[str, ...]
) -> None:
    # The rules are only as good as this resolution; check it on known forms.
    assert parse_imports(module, False, text) == [Import(module, target, names, 1)]


def test_the_checker_sees_upward_and_sibling_imports() -> None:
    lazy = "def f():\n    from mediaguard.scanner import Scanner\n"
    up = parse_imports("mediaguard.media.image", False, lazy)
    side = parse_imports("mediaguard.review", True, "from mediaguard.redaction import redact")
    down = parse_imports("mediaguard.scanner", False, "from mediaguard.media import image")
    assert len(layer_violations(up)) == 1
    assert len(layer_violations(side)) == 1
    assert layer_violations(down) == []
