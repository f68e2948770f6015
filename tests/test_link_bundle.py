"""Bundles on the wire: round trips, and garbage of every shape refused with BundleError."""

from __future__ import annotations

import random
import uuid

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.link.bundle import Bundle, BundleError, Priority, new_bundle

names = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40)


@given(
    names, names, st.sampled_from(list(Priority)), st.floats(0, 4e9), st.floats(0.001, 3e7),
    names, st.binary(max_size=5000),
)
def test_round_trip(source: str, destination: str, priority: Priority, created: float,
                    lifetime: float, kind: str, payload: bytes) -> None:
    bundle = Bundle(uuid.uuid4().hex, source, destination, priority, created, lifetime, kind,
                    payload)
    assert Bundle.decode(bundle.encode()) == bundle


def _valid() -> bytes:
    return new_bundle("balloon/SL-1", "ground", Priority.TELEMETRY, "telemetry", b"x" * 40,
                      now=1000.0, lifetime=60.0).encode()


def test_every_truncation_is_refused() -> None:
    data = _valid()
    for cut in range(len(data)):
        with pytest.raises(BundleError):
            Bundle.decode(data[:cut])


def test_bit_flips_never_raise_anything_but_bundle_error() -> None:
    data = bytearray(_valid())
    rng = random.Random(1)
    for _ in range(3000):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        try:
            decoded = Bundle.decode(bytes(flipped))
        except BundleError:
            continue
        assert decoded.encode() == bytes(flipped) or isinstance(decoded, Bundle)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(data: bytes) -> None:
    try:
        Bundle.decode(data)
    except BundleError:
        pass


@pytest.mark.parametrize(
    "items,reason",
    [
        ([2, b"\0" * 16, "a", "b", 1, 0.0, 1.0, "k", b""], "version"),
        ([1, b"\0" * 15, "a", "b", 1, 0.0, 1.0, "k", b""], "id"),
        ([1, b"\0" * 16, "a", "b", 9, 0.0, 1.0, "k", b""], "priority"),
        ([1, b"\0" * 16, "a", "b", 1, 0.0, -1.0, "k", b""], "lifetime"),
        ([1, b"\0" * 16, "a", "b", 1, float("nan"), 1.0, "k", b""], "creation"),
        ([1, b"\0" * 16, "", "b", 1, 0.0, 1.0, "k", b""], "source"),
        ([1, b"\0" * 16, "a", "b", 1, 0.0, 1.0, "k", "text"], "payload"),
        ({"id": 1}, "array"),
    ],
)
def test_invalid_fields_name_the_problem(items: object, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        Bundle.decode(cbor2.dumps(items))


def test_expiry() -> None:
    bundle = Bundle.decode(_valid())
    assert not bundle.is_expired(1059.9) and bundle.is_expired(1060.0)
    assert bundle.expires_at == 1060.0


def test_node_names_round_trip_and_only_balloons_have_a_balloon_id() -> None:
    from stratolink.link.endpoints import GROUND_NODE, balloon_node, balloon_of

    assert balloon_node("SL-1") == "balloon/SL-1" and balloon_of("balloon/SL-1") == "SL-1"
    assert balloon_of(GROUND_NODE) is None and balloon_of("balloonSL-1") is None
    assert balloon_of(None) is None and balloon_of("x/balloon/SL-1") is None
