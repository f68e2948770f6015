"""The README's Python examples run as written (each ```python block, in a fresh namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the fenced ```python blocks, in order."""
    return [m.group(1) for m in BLOCK.finditer(text)]


def test_the_readme_opens_with_the_three_line_prediction() -> None:
    text = README.read_text(encoding="utf-8")
    first_paragraph_end = text.index("\n\n", text.index("\n\n") + 2)  # after title, paragraph
    first = BLOCK.search(text)
    assert first is not None and first.start() == first_paragraph_end + 2
    lines = [line for line in first.group(1).splitlines() if line.strip()]
    assert len(lines) == 3 and lines[0].startswith("from stratolink import ")


@pytest.mark.parametrize("number", range(len(python_blocks(README.read_text(encoding="utf-8")))))
def test_readme_python_block_runs(number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = python_blocks(README.read_text(encoding="utf-8"))[number]
    monkeypatch.chdir(tmp_path)  # files an example writes land here
    exec(compile(source, f"README.md python block {number + 1}", "exec"), {"__name__": "readme"})
    if number == 0:  # the opening example prints the landing of its flight
        assert capsys.readouterr().out.startswith("landing 2026-06-01 ")
