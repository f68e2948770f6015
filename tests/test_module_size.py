"""No module in src grows past `MAX_LINES` lines without saying why.

Convention: a longer module states its reason in its module docstring, on a line that starts
with `Size:` (after indentation), for example

    Size: one state machine over eight tables; the transitions must be read together.

A reason is for a module that is long because it is one job (a state machine, a numerical
kernel, a format's many cases); a module with several jobs is split instead. Lines are the
file's physical lines, docstrings and comments included.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 400

# Modules over the limit that neither are split yet nor give a reason (none now). Remove an
# entry when its module is split or gains a `Size:` line (the test fails on entries that no
# longer need to be here, so the list cannot rot).
UNEXPLAINED: set[str] = set()


def size_reason(path: Path) -> str | None:
    """The text after `Size:` in the module docstring, if it has one."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for line in docstring.splitlines():
        if line.strip().startswith("Size:") and line.strip()[len("Size:"):].strip():
            return line.strip()[len("Size:"):].strip()
    return None


def long_modules() -> dict[str, int]:
    """Modules over the limit, by path under src, with their line counts."""
    counts = {path.relative_to(SRC).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
              for path in sorted(SRC.rglob("*.py"))}
    return {name: n for name, n in counts.items() if n > MAX_LINES}


def test_long_modules_say_why() -> None:
    unexplained = {name: n for name, n in long_modules().items()
                   if size_reason(SRC / name) is None}
    new = sorted(f"{name} ({n} lines)" for name, n in unexplained.items()
                 if name not in UNEXPLAINED)
    assert new == [], (f"modules over {MAX_LINES} lines without a 'Size:' line in their "
                       f"docstring (split them, or say why they are one job): {new}")
    stale = sorted(UNEXPLAINED - set(unexplained))
    assert stale == [], f"UNEXPLAINED entries now split or explained (remove them): {stale}"


def test_size_reason_is_read_from_the_docstring(tmp_path: Path) -> None:
    explained = tmp_path / "explained.py"
    explained.write_text('"""A kernel.\n\nSize: one loop, read together.\n"""\nx = 1\n')
    silent = tmp_path / "silent.py"
    silent.write_text('"""A kernel."""\n# Size: in a comment, not the docstring\n')
    assert size_reason(explained) == "one loop, read together."
    assert size_reason(silent) is None
