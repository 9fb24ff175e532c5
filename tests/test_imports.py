"""The package's import graph has no cycle (issue 10).

Every import statement inside ``twinframe/`` counts: module level, inside
functions (lazy imports), and under ``if TYPE_CHECKING:``, since a cycle a type
checker sees is a cycle a reader meets too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import twinframe

PACKAGE = Path(twinframe.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["twinframe", *path.relative_to(PACKAGE).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports, from every import statement in it."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from . import x" / "from .pkg import mod" may name a module, not an attribute.
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                found.add(target)
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are not
    # edges a reader follows, and every submodule would otherwise "import" its package.
    return {t for t in found if not name.startswith(t + ".") and t != "twinframe"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = _graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_walk_sees_lazy_and_type_checking_imports() -> None:
    # The walk must see the imports that used to make cycles, or the test above proves
    # nothing: a TYPE_CHECKING import, a relative import of a sibling, one inside a function.
    graph = _graph()
    assert "twinframe.contract" in graph["twinframe.connection"]  # under TYPE_CHECKING
    assert "twinframe.pipeline" in graph["twinframe.wsgi"]
    assert "twinframe.server" in graph["twinframe.app"]  # inside App.run
    assert "twinframe.websocket" in graph["twinframe.testing.websocket"]  # "from .."
    assert "twinframe.testing.portal" in graph["twinframe.testing.lifespan"]


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_adapters_are_the_only_modules_that_know_wsgi_or_asgi_types() -> None:
    graph = _graph()
    users = {name for name, targets in graph.items() if "twinframe.types" in targets}
    assert users <= {
        "twinframe.wsgi",
        "twinframe.asgi",
        "twinframe.asgi_connection",
        "twinframe.websocket",
        # The bridges to mounted apps (issue 12) speak the protocols too: to them
        # twinframe is the server.
        "twinframe.asgi_bridge",
        "twinframe.bridging",
    }, users
    assert "twinframe.wsgi" not in graph["twinframe.pipeline"]
    assert "twinframe.asgi" not in graph["twinframe.pipeline"]
