"""Key generation and listing: formats, permissions, pins, and refusal to overwrite."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stratolink.errors import InvalidParameterError
from stratolink.link.keys import KeyRing, spki_fingerprint


def test_generate_all_kinds_with_private_files_0600(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    op = ring.generate("ada", "operator")
    balloon = ring.generate("SL-1", "balloon")
    ring.generate("ops", "ground")
    assert [(k.name, k.kind) for k in ring.list()] == [
        ("ada", "operator"), ("SL-1", "balloon"), ("ops", "ground")]
    for key_file in tmp_path.glob("*.key"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    identity = ring.tls_identity("SL-1", "balloon")
    assert balloon.fingerprint == spki_fingerprint(identity.certificate()) == identity.fingerprint
    signature = ring.operator_private_key("ada").sign(b"m")
    ring.operator_public_key("ada").verify(signature, b"m")
    assert len(op.fingerprint) == 64


def test_refuses_overwrite_and_bad_names(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    ring.generate("SL-1", "balloon")
    before = (tmp_path / "SL-1.balloon.key").read_bytes()
    with pytest.raises(InvalidParameterError, match="already exists"):
        ring.generate("SL-1", "balloon")
    assert (tmp_path / "SL-1.balloon.key").read_bytes() == before
    for bad in ("../x", "", "a b", ".hidden"):
        with pytest.raises(InvalidParameterError):
            ring.generate(bad, "operator")
    with pytest.raises(InvalidParameterError, match="unknown key kind"):
        ring.generate("x", "satellite")


def test_cli_generate_and_list(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stratolink", "keys", *args,
                               "--dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin",
                                               "PYTHONPATH": os.environ["PYTHONPATH"]})

    assert cli("generate", "--kind", "ground", "--name", "ops").returncode == 0
    again = cli("generate", "--kind", "ground", "--name", "ops")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    listing = cli("list")
    fingerprint = KeyRing(tmp_path).info("ops", "ground").fingerprint
    assert listing.returncode == 0 and fingerprint in listing.stdout
