"""Piped command-line output is never hard-wrapped; errors are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stratolink.cli.console import one_line


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "80",  # as in a narrow terminal's pipe
           "PYTHONPATH": os.environ["PYTHONPATH"]}  # this checkout's source (conftest)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


def test_an_error_with_a_long_path_is_one_unbroken_line(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 150) / "missing.toml"
    result = _run(["-m", "stratolink", "flight", "run", "--config", str(deep)], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert str(deep) in lines[0]


def test_a_wide_table_and_long_line_reach_a_pipe_whole(tmp_path: Path) -> None:
    fingerprint = "ab12" * 40
    script = (
        "from rich.table import Table\n"
        "from stratolink.cli.console import make_console\n"
        "c = make_console()\n"
        "t = Table(title='keys')\n"
        "t.add_column('name'); t.add_column('fingerprint')\n"
        f"t.add_row('balloon/SL-1', '{fingerprint}')\n"
        "c.print(t)\n"
        "c.print('word ' * 60)\n"
    )
    result = _run(["-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    assert any(fingerprint in line for line in result.stdout.splitlines())
    assert any(line.strip() == ("word " * 60).strip() for line in result.stdout.splitlines())


def test_one_line_folds_breaks() -> None:
    assert one_line("bad row\n  at line 3\r\nfix it") == "bad row at line 3 fix it"
