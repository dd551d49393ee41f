"""`gateway` has no import circle, and its state module reaches no endpoint.

`app`, `session` and the carrier endpoints used to import each other through
the `Gateway` class (some only under TYPE_CHECKING, which still ties the
modules together for a reader and for any tool). Every import counts here,
wherever it is written: at the top, inside a function, or under
TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gateway

PACKAGE = Path(gateway.__file__).parent
# Modules that serve a socket: what the state must never import, even indirectly.
ENDPOINT_MARKERS = ("starlette.websockets", "starlette.routing")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> tuple[set[str], set[str]]:
    """(gateway modules `name` imports, every other module it imports)."""
    path = MODULES[name]
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    inside, outside = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here[: len(here) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            # `from . import x` names a module x; `from .m import f` names module m.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for target in targets:
            (inside if target in MODULES else outside).add(target)
    inside.discard(name)
    return inside, outside


GRAPH = {name: imports(name)[0] for name in MODULES}


def find_cycle() -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for name in sorted(GRAPH):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_graph_sees_the_modules_it_must() -> None:
    assert {"gateway.app", "gateway.state", "gateway.session", "gateway.drivers.websocket"} <= set(
        MODULES
    )
    assert "gateway.state" in GRAPH["gateway.session"]  # TYPE_CHECKING imports count


def test_gateway_has_no_import_circle() -> None:
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


def test_the_state_module_imports_no_endpoint() -> None:
    for name in {"gateway.state", *reachable("gateway.state")}:
        _, outside = imports(name)
        served = [m for m in outside if m.startswith(ENDPOINT_MARKERS)]
        assert not served, f"gateway.state reaches {name}, which imports {served}"
