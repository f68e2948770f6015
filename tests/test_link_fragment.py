"""Fragments: any file size round-trips, in any order, across restarts, verified by SHA-256."""

from __future__ import annotations

import os
import random
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.link.bundle import Bundle, BundleError, Priority
from stratolink.link.fragment import Reassembler, parse_fragment, split_file


def _split(path: Path, size: int = 1024):  # type: ignore[no-untyped-def]
    return split_file(path, source="balloon/SL-1", destination="ground", now=0.0,
                      lifetime=3600.0, fragment_size=size)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 20_000), st.integers(1024, 4096), st.randoms())
def test_any_size_round_trips_in_any_order(size: int, frag: int, rnd: random.Random) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "data.bin"
        src.write_bytes(os.urandom(size))
        parent, fragments = _split(src, frag)
        bundles = list(fragments)
        assert len(bundles) == max(1, -(-size // frag))
        rnd.shuffle(bundles)
        bundles.append(bundles[0])  # a duplicate on the way
        done = []
        rx = Reassembler(Path(tmp) / "rx")
        for i, b in enumerate(bundles):
            assert Bundle.decode(b.encode()) == b
            result = rx.add(b, 0.0)
            if result is not None:
                done.append((i, result))
        # Complete at the last new fragment; the late duplicate names the same file again
        # (announcing is idempotent), it does not make a second one.
        assert [i for i, _ in done] == [len(bundles) - 2, len(bundles) - 1]
        assert {r.parent_id for _, r in done} == {parent}
        assert done[0][1].path.read_bytes() == src.read_bytes()
        assert rx.status()["completed"] == [parent]


def test_a_cut_transfer_resumes_after_a_restart(tmp_path: Path) -> None:
    src = tmp_path / "science.bin"
    src.write_bytes(os.urandom(50_000))
    parent, fragments = _split(src)
    bundles = list(fragments)
    rx = Reassembler(tmp_path / "rx")
    for b in bundles[:20]:
        assert rx.add(b, 0.0) is None
    rx.close()
    rx = Reassembler(tmp_path / "rx")  # the receiver restarted
    missing = rx.missing_ranges(parent)
    assert missing == [(20 * 1024, 50_000)]
    # The sender re-splits after its own restart: same ids, so the store dedupes them.
    again_parent, again = split_file(src, source="balloon/SL-1", destination="ground", now=5.0,
                                     lifetime=3600.0, fragment_size=1024, parent_id=parent)
    again_list = list(again)
    assert [b.id for b in again_list] == [b.id for b in bundles]
    results = [rx.add(b, 1.0) for b in again_list[20:]]
    assert results[-1] is not None and results[-1].path.read_bytes() == src.read_bytes()


def test_corrupt_data_is_not_delivered(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(3000))
    _, fragments = _split(src)
    bundles = list(fragments)
    header, data = cbor2.loads(bundles[1].payload)
    forged = Bundle(bundles[1].id, "balloon/SL-1", "ground", Priority.BULK, 0.0, 3600.0,
                    "fragment", cbor2.dumps([header, bytes(len(data))]))
    rx = Reassembler(tmp_path / "rx")
    rx.add(bundles[0], 0.0)
    rx.add(forged, 0.0)
    with pytest.raises(BundleError, match="SHA-256"):
        rx.add(bundles[2], 0.0)
    assert not list((tmp_path / "rx").glob("*-f.bin"))


@pytest.mark.parametrize("payload", [b"", b"\xff\x00", cbor2.dumps([["x"], b"d"]),
                                     cbor2.dumps([["a" * 32, "file", "../../etc/passwd", 5, 10,
                                                   b"\0" * 32], b"12345"])])
def test_malformed_fragments_are_refused(payload: bytes) -> None:
    bundle = Bundle("0" * 32, "a", "b", Priority.BULK, 0.0, 10.0, "fragment", payload)
    with pytest.raises(BundleError):
        parse_fragment(bundle)


def test_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    header = ["a" * 32, "file", "../../escape.txt", 3, 0, b"\0" * 32]
    bundle = Bundle("0" * 32, "a", "b", Priority.BULK, 0.0, 10.0, "fragment",
                    cbor2.dumps([header, b"abc"]))
    parsed, _ = parse_fragment(bundle)
    assert parsed.name == "escape.txt"
