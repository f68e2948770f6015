"""The flight side's layers point one way: physics below the world, the world below the
onboard software, the onboard software beside (never using) the ground, the simulators above.

Every `import` in a package's modules, including those inside functions, is read from the
source, so a lazy import cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stratolink"

FORBIDDEN = {
    "flight": {"navigation", "link", "world", "onboard", "ground", "sim", "cli"},
    "world": {"onboard", "ground", "sim", "cli"},
    "onboard": {"ground", "sim", "cli"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """stratolink subpackage -> the modules of `package` that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "stratolink" and len(parts) > 1:
                    found.setdefault(parts[1], set()).add(path.name)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_uses_only_the_layers_below(package: str) -> None:
    used = imported_packages(package)
    wrong = {name: sorted(used[name]) for name in FORBIDDEN[package] & set(used)}
    assert not wrong, f"stratolink.{package} imports layers above it: {wrong}"
