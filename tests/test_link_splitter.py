"""A file queued a piece at a time: the same fragments as `split_file`, in bounded pieces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratolink.link.bundle import BundleError
from stratolink.link.fragment import split_file, stable_parent_id
from stratolink.link.splitter import FileSplitter


@pytest.mark.parametrize("size", [0, 1000, 5 * 1024, 37 * 1024 + 5])
def test_pieces_add_up_to_the_whole_file_split_at_once(tmp_path: Path, size: int) -> None:
    src = tmp_path / "science.bin"
    src.write_bytes(os.urandom(size))
    fields = {"source": "SL-1", "destination": "ground", "now": 5.0, "lifetime": 60.0,
              "kind": "science", "fragment_size": 1024}
    parent, whole = split_file(src, parent_id=stable_parent_id(src), **fields)  # type: ignore[arg-type]
    splitter = FileSplitter(src, **fields)  # type: ignore[arg-type]
    pieces = []
    for _ in range(1000):
        if splitter.done:
            break
        pieces.append(splitter.advance(2048))
    assert splitter.done and splitter.parent_id == parent
    assert max(len(piece) for piece in pieces) <= 2  # 2 KiB of work: two 1 KiB fragments
    assert [b for piece in pieces for b in piece] == list(whole)
    assert splitter.advance(2048) == []


def test_a_file_that_cannot_be_sent_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        FileSplitter(tmp_path / "missing.bin", source="SL-1", destination="ground", now=0.0,
                     lifetime=60.0)
