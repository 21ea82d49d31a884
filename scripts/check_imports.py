"""What `lint-imports` leaves open, checked after it (`make lint`): no import circle among microsite's
modules, and no module outside the layers of pyproject.toml's contract, where it would go unchecked.

Only the app factory (microsite/__init__.py) and the feature packages' own __init__.py, which register
their parts with the app, stand outside the layers. Uses grimp, the graph import-linter builds.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "microsite"
FEATURES = ("pages", "leads", "questions", "crisis", "counts", "reports", "staff", "monitoring")
WIRING = {PACKAGE} | {f"{PACKAGE}.{name}" for name in FEATURES}


def layered_modules() -> list[str]:
    """Every module the layers contract names (with containers, relative to them)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = []
    for contract in config["contracts"]:
        if contract["type"] != "layers":
            continue
        containers = contract.get("containers") or [""]
        for layer in contract["layers"]:
            for tail in layer.replace("|", ":").split(":"):
                names += [f"{c}.{tail.strip()}" if c else tail.strip() for c in containers]
    return names


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def main() -> int:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    problems = [f"import circle: {' <-> '.join(circle)}" for circle in cycles(graph)]
    layered = layered_modules()
    for module in sorted(graph.modules):
        in_layer = any(module == name or module.startswith(name + ".") for name in layered)
        if not in_layer and module not in WIRING:
            problems.append(f"{module} is in no layer of pyproject.toml's import contract: add it to one")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"imports: {len(graph.modules)} modules, no circle, each in a layer")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
