"""The package's layers, enforced: each module imports only from its own layer or below.

From the bottom up (`LAYERS`): the root modules (errors, geo, atmosphere, basemap,
configfile); winds; flight physics; navigation; link; world; then onboard and ground, which
use everything below and never each other; then sim; the public api facade; and the command
line. `netshaper` is a standalone tool beside the stack: it uses only `stratolink.errors`, and
only the command line may use it. No module may take part in an import cycle.

The check reads the source with `ast` (no import-linter dependency, nothing is imported):
every `import`/`from ... import` of a `stratolink` module counts, at module level or inside a
function, and so do imports under `if TYPE_CHECKING:` for the layers (an annotation that
names a higher layer is a dependency too). Cycles are checked on the imports that run
(type-only imports cannot deadlock or half-initialise a module).

The package's own `stratolink/__init__.py` is the public facade (errors at once, the api's
names lazily on first use) and is exempt.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom first. A module belongs to the layer of the longest prefix that names it. Groups in
# one layer may import each other, except in a layer marked independent (siblings).
LAYERS: list[tuple[tuple[str, ...], bool]] = [
    (("stratolink.errors", "stratolink.geo", "stratolink.atmosphere", "stratolink.basemap",
      "stratolink.configfile", "stratolink.data"), False),
    (("stratolink.winds",), False),
    (("stratolink.flight",), False),
    (("stratolink.navigation",), False),
    (("stratolink.link",), False),
    (("stratolink.world",), False),
    (("stratolink.onboard", "stratolink.ground"), True),
    (("stratolink.sim",), False),
    (("stratolink.api",), False),
    (("stratolink.cli", "stratolink.__main__"), False),
]
STANDALONE = {"stratolink.netshaper": ("stratolink.errors",)}  # tool: what it may use
STANDALONE_USERS = ("stratolink.cli",)  # the only layer that may import a standalone tool
FACADE = "stratolink"

# Edges allowed to break the layering while a move is under way (none now). Remove an entry
# once its edge is gone (the test fails on entries that no longer exist, so the list cannot
# rot).
PENDING: set[tuple[str, str]] = set()

# Import cycles allowed while one is being broken (none now; same rule: stale entries fail).
KNOWN_CYCLES: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Import:
    """One import of a stratolink module by another, and whether it runs (not type-only)."""

    source: str
    target: str
    line: int
    runtime: bool


def modules() -> dict[str, Path]:
    """Every module under src/stratolink by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((SRC / "stratolink").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The stratolink modules `name` imports: `from a.b import c` names a.b.c if that is a
    module, else a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    type_only = _type_checking_lines(tree)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        for target in targets:
            if (target == "stratolink" or target.startswith("stratolink.")) and target != name:
                yield Import(name, target, node.lineno, node.lineno not in type_only)


def all_imports() -> list[Import]:
    known = modules()
    return [imp for name, path in known.items() for imp in imports_of(name, path, known)]


def _group(module: str) -> tuple[int, str] | None:
    """(layer index, group prefix) of a module, from the longest matching prefix."""
    best: tuple[int, str] | None = None
    for index, (groups, _independent) in enumerate(LAYERS):
        for group in groups:
            if (module == group or module.startswith(group + ".")) and (
                    best is None or len(group) > len(best[1])):
                best = (index, group)
    return best


def _standalone(module: str) -> str | None:
    return next((tool for tool in STANDALONE
                 if module == tool or module.startswith(tool + ".")), None)


def violation(imp: Import) -> str | None:
    """Why this import breaks the layering, or None if it is allowed."""
    source_tool, target_tool = _standalone(imp.source), _standalone(imp.target)
    if source_tool is not None:
        if target_tool == source_tool or any(
                imp.target == ok or imp.target.startswith(ok + ".")
                for ok in STANDALONE[source_tool]):
            return None
        return f"the standalone {source_tool} may use only {STANDALONE[source_tool]}"
    if target_tool is not None:
        if any(imp.source.startswith(user) for user in STANDALONE_USERS):
            return None
        return f"only {STANDALONE_USERS} may use the standalone {target_tool}"
    source, target = _group(imp.source), _group(imp.target)
    if source is None or target is None:
        return f"{imp.source if source is None else imp.target} is in no layer: add it to LAYERS"
    if target[0] > source[0]:
        return f"{source[1]} (layer {source[0]}) imports the higher {target[1]} (layer {target[0]})"
    if target[0] == source[0] and target[1] != source[1] and LAYERS[source[0]][1]:
        return f"{source[1]} and {target[1]} are siblings: neither may import the other"
    return None


def test_every_module_is_in_a_layer() -> None:
    lost = [m for m in modules() if m != FACADE and _group(m) is None and _standalone(m) is None]
    assert lost == [], f"modules in no layer (add them to LAYERS): {lost}"


def test_imports_point_down_the_layers() -> None:
    found = {(imp.source, imp.target): imp for imp in all_imports() if imp.source != FACADE}
    broken = [f"{SRC.name}/{imp.source.replace('.', '/')}:{imp.line}: {imp.target}: {why}"
              for key, imp in sorted(found.items())
              if key not in PENDING and (why := violation(imp)) is not None]
    assert broken == [], "imports against the layering:\n" + "\n".join(broken)
    stale = sorted(edge for edge in PENDING if edge not in found or violation(found[edge]) is None)
    assert stale == [], f"PENDING entries that no longer break the layering (remove them): {stale}"


def import_cycles(edges: list[Import]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for imp in edges:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []

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
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    cycles = set(import_cycles([imp for imp in all_imports()
                                if imp.runtime and imp.source != FACADE]))
    new = sorted(sorted(c) for c in cycles - KNOWN_CYCLES)
    assert new == [], f"import cycles: {new}"
    gone = sorted(sorted(c) for c in KNOWN_CYCLES - cycles)
    assert gone == [], f"KNOWN_CYCLES entries that no longer exist (remove them): {gone}"


def test_the_check_sees_what_it_must() -> None:
    """The checker itself: imports are read, violations and cycles are found."""
    known = {"stratolink.winds.gridded": SRC, "stratolink.winds.base": SRC}
    assert violation(Import("stratolink.geo", "stratolink.winds.base", 1, True)) is not None
    assert violation(Import("stratolink.ground.api", "stratolink.onboard.agent", 1, True))
    assert violation(Import("stratolink.sim.mission", "stratolink.ground.store", 1, True)) is None
    assert violation(Import("stratolink.netshaper.tun", "stratolink.link.node", 1, True))
    assert import_cycles([Import("a", "b", 1, True), Import("b", "a", 1, True)]) == [
        frozenset({"a", "b"})]
    tree_path = SRC / "stratolink" / "winds" / "gridded.py"
    names = {imp.target for imp in imports_of("stratolink.winds.gridded", tree_path, known)}
    assert "stratolink.winds.gridded_field" in names
