"""The house rules, read from the code itself: no import circles, imports only run down the
layers, and no file grows past the size we keep.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a circle dodged
that way is still a circle for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "consensus", "router", "tessera")

#: Which rooms a room may import from (besides itself). Read top-down: the public faces over
#: everything, the cluster and the query engine over the collection layer, the collection layer
#: over one node's storage; consensus and node stand alone.
ALLOWED = {
    "tessera": {"router", "node", "consensus"},
    "router.api": {"router.cluster", "router.query", "router.operations", "router.collection",
                   "router.observability", "router.version", "node", "consensus"},
    "router.observability": {"router.version"},
    "router.cluster": {"router.operations", "router.collection", "node", "consensus"},
    "router.query": {"router.operations", "router.collection", "node"},
    "router.operations": {"router.collection", "node"},
    "router.collection": {"node", "consensus"},
    "router.version": set(),
    "router": set(),
    "consensus": set(),
    "node": set(),
}

SOURCE_LIMIT = 600
TEST_LIMIT = 900


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(
        p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if "_pb2" not in p.name
    )


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project's modules that a file imports, resolved to the module (not the name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module; `from mod import name` the module too
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != here:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = source_files()
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) for p in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def room_of(module: str) -> str:
    """The most specific room of ALLOWED that holds a module."""
    rooms = [room for room in ALLOWED if module == room or module.startswith(room + ".")]
    assert rooms, f"{module} lies in no room of the house: add it to ALLOWED"
    return max(rooms, key=len)


def test_circles_are_found():
    """The detector itself: a two-module circle and a longer one are reported, a chain is not."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(circles(graph)) == [["a", "b"], ["c", "d", "e"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_imports_run_down_the_layers():
    wrong = []
    for module, targets in import_graph().items():
        room = room_of(module)
        for target in targets:
            other = room_of(target)
            if other != room and not any(
                other == allowed or other.startswith(allowed + ".") for allowed in ALLOWED[room]
            ):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def _too_long(paths: list[Path], limit: int) -> list[str]:
    long = []
    for path in paths:
        lines = len(path.read_text().splitlines())
        if lines > limit:
            long.append(f"{path.relative_to(REPO)}: {lines}")
    return long


@pytest.mark.parametrize("folder", ["node", "consensus", "router", "tessera", "bench", "deploy"])
def test_no_source_file_past_the_size_we_keep(folder):
    files = [p for p in (REPO / folder).rglob("*.py") if "_pb2" not in p.name]
    assert _too_long(files, SOURCE_LIMIT) == []


def test_no_test_file_past_the_size_we_keep():
    assert _too_long(sorted((REPO / "tests").rglob("*.py")), TEST_LIMIT) == []
