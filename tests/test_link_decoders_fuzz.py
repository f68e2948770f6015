"""Every decoder that reads a peer's (or a sensor's) bytes, fuzzed with hypothesis: whatever
the input, the result is a value inside the documented bounds or the decoder's own clear
error, never another exception; and refused input leaves no trace on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratolink.errors import InvalidParameterError
from stratolink.link.bundle import (
    MAX_LIFETIME_S,
    MAX_NAME_CHARS,
    MAX_PAYLOAD_BYTES,
    MAX_TIME_S,
    Bundle,
    BundleError,
    Priority,
)
from stratolink.link.commands import CommandError, SignedCommand
from stratolink.link.fragment import Reassembler, parse_fragment
from stratolink.link.limits import MAX_FILE_NAME_CHARS, ReceiveLimits, file_name_problem
from stratolink.link.ratelog import RateLimitedLog
from stratolink.onboard.loop import MAX_SENSOR_LINE_CHARS, parse_sensor_line

HUGE_INTS = st.sampled_from([2**53 + 1, 2**63, 2**64, 2**1100, -(2**1100), 10**4000])
NUMBERS = (st.integers(-(2**70), 2**70) | HUGE_INTS | st.floats()
           | st.floats(allow_nan=False, allow_infinity=False))
NASTY_TEXT = st.sampled_from(["", "\x00", "a\x00b", "..", ".", "/", "a/b", "../../x",
                              "x" * 240, "y" * 300, "ok.bin", "é" * 80, "\u202e.exe",
                              "ground", "balloon/SL-1", "fragment", "science"])
TEXT = st.text(max_size=40) | NASTY_TEXT
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT | st.binary(max_size=40)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=10)


def field_or_junk(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, often anything at all."""
    return st.one_of(good, good, VALUES)


BUNDLE_ITEMS = st.tuples(
    field_or_junk(st.just(1)),
    field_or_junk(st.binary(min_size=16, max_size=16)),
    field_or_junk(st.sampled_from(["balloon/SL-1", "ground"])),
    field_or_junk(st.sampled_from(["balloon/SL-1", "ground"])),
    field_or_junk(st.integers(0, 3)),
    field_or_junk(NUMBERS),
    field_or_junk(NUMBERS),
    field_or_junk(st.sampled_from(["telemetry", "fragment", "command"])),
    field_or_junk(st.binary(max_size=64)),
).map(list)


@settings(max_examples=200)
@given(st.one_of(BUNDLE_ITEMS, BUNDLE_ITEMS.map(lambda items: items[:8]), VALUES))
def test_bundle_decode_is_a_valid_bundle_or_a_bundle_error(items: Any) -> None:
    data = cbor2.dumps(items)
    try:
        bundle = Bundle.decode(data)
    except BundleError as exc:
        assert len(str(exc)) < 200  # a reason, never the input echoed back
        return
    assert -MAX_TIME_S <= bundle.created <= MAX_TIME_S
    assert 0.0 < bundle.lifetime <= MAX_LIFETIME_S and math.isfinite(bundle.expires_at)
    assert bundle.priority in Priority and len(bundle.payload) <= MAX_PAYLOAD_BYTES
    for name in (bundle.source, bundle.destination, bundle.kind):
        assert 0 < len(name) <= MAX_NAME_CHARS and all(ord(c) >= 32 for c in name)
    assert Bundle.decode(bundle.encode()) == bundle


def fragment_bundle(header: Any, data: Any) -> Bundle:
    return Bundle("0" * 32, "balloon/SL-1", "ground", Priority.BULK, 0.0, 60.0, "fragment",
                  cbor2.dumps([header, data]))


DATA = st.binary(min_size=1, max_size=64)
HEADERS = st.tuples(
    field_or_junk(st.sampled_from(["ab" * 16, "AB" * 16, "zz" * 16, "a" * 31])),
    field_or_junk(st.sampled_from(["science", "forecast", "file-1", "a b", "", "k" * 65])),
    field_or_junk(NASTY_TEXT),
    field_or_junk(st.integers(0, 1 << 41) | HUGE_INTS),
    field_or_junk(st.integers(-5, 1 << 41) | HUGE_INTS),
    field_or_junk(st.binary(min_size=32, max_size=32)),
).map(list)


@settings(max_examples=200)
@given(st.one_of(HEADERS, VALUES), st.one_of(DATA, VALUES))
def test_fragment_headers_are_bounded_or_refused(header: Any, data: Any) -> None:
    limits = ReceiveLimits(max_file_bytes=1 << 30)
    try:
        parsed, chunk = parse_fragment(fragment_bundle(header, data), limits.max_file_bytes)
    except BundleError:
        return
    assert file_name_problem(parsed.name) is None and len(parsed.name) <= MAX_FILE_NAME_CHARS
    assert 0 <= parsed.offset and parsed.offset + len(chunk) <= parsed.total_size
    assert parsed.total_size <= limits.max_file_bytes and len(parsed.sha256) == 32
    assert int(parsed.parent_id, 16) >= 0 and len(parsed.parent_id) == 32


@settings(max_examples=25)
@given(st.lists(st.tuples(HEADERS, DATA), min_size=1, max_size=6))
def test_the_reassembler_refuses_cleanly_and_writes_only_its_own_files(
        fragments: list[tuple[Any, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rx_dir = Path(tmp) / "rx"
        rx = Reassembler(rx_dir, ReceiveLimits(max_file_bytes=1 << 30, quota_bytes=1 << 31))
        try:
            for header, data in fragments:
                try:
                    rx.add(fragment_bundle(header, data), 0.0)
                except BundleError:
                    continue
        finally:
            rx.close()
        for path in rx_dir.parent.rglob("*"):
            if path == rx_dir:
                continue
            assert path.parent == rx_dir  # nothing outside, no folders made
            stem = path.name.split("-", 1)[0].split(".", 1)[0]
            assert path.name.startswith("ranges.sqlite") or len(stem) == 32


SIGNED = st.fixed_dictionaries({
    "balloon_id": field_or_junk(st.just("SL-1")),
    "seq": field_or_junk(st.integers(-1, 2**64)),
    "issued_at": field_or_junk(st.floats() | st.integers(-(2**63), 2**63)),
    "expires_at": field_or_junk(st.floats() | st.integers(-(2**63), 2**63)),
    "operator_id": field_or_junk(st.just("ada")),
    "action": field_or_junk(st.just({"type": "hold-altitude", "altitude_m": 18000.0})),
    "signature": field_or_junk(st.binary(min_size=64, max_size=64)),
})


@settings(max_examples=200)
@given(st.one_of(SIGNED, VALUES))
def test_command_decode_is_a_command_or_a_command_error(raw: Any) -> None:
    try:
        command = SignedCommand.decode(cbor2.dumps(raw))
    except CommandError:
        return
    assert 0 < command.seq < 2**63 and len(command.signature) == 64
    assert math.isfinite(command.issued_at) and math.isfinite(command.expires_at)


@pytest.mark.parametrize("field", ["issued_at", "expires_at"])
def test_command_times_beyond_float_range_are_a_command_error(field: str) -> None:
    raw = {"balloon_id": "SL-1", "seq": 1, "issued_at": 1.8e9, "expires_at": 1.8e9 + 60,
           "operator_id": "ada", "action": {}, "signature": bytes(64), field: 2**1100}
    with pytest.raises(CommandError):
        SignedCommand.decode(cbor2.dumps(raw))


SENSOR_NUMBERS = NUMBERS.map(lambda v: v if not isinstance(v, float) or math.isfinite(v)
                             else 1e400)


@st.composite
def hostile_lines(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # deep nesting around a reading
        depth = draw(st.integers(1, 5000))
        return "[" * depth + '{"lat": 1, "lon": 2, "alt": 3}' + "]" * depth
    if kind == 1:  # a number of thousands of digits
        digits = draw(st.integers(300, 6000))
        return '{"lat": 1, "lon": 2, "alt": ' + "9" * digits + "}"
    if kind == 2:  # long lines of anything
        return draw(st.text(min_size=MAX_SENSOR_LINE_CHARS - 5,
                            max_size=MAX_SENSOR_LINE_CHARS + 5))
    fields = draw(st.dictionaries(st.sampled_from(["lat", "lon", "alt", "time", "pressure_pa",
                                                   "battery_wh", "battery_soc", "sun_up"]),
                                  SENSOR_NUMBERS | st.booleans(), min_size=1))
    return json.dumps(fields).replace("Infinity", "1e400")


@settings(max_examples=120)
@given(hostile_lines())
def test_hostile_sensor_lines_are_readings_within_bounds_or_refused(line: str) -> None:
    try:
        reading = parse_sensor_line(line, 1.8e9, 1000.0)
    except InvalidParameterError as exc:
        assert str(exc).startswith("sensor") and len(str(exc)) < 200
        return
    assert len(line) <= MAX_SENSOR_LINE_CHARS
    assert -90.0 <= reading.lat_deg <= 90.0 and -500.0 <= reading.altitude_m <= 60_000.0
    assert math.isfinite(reading.time_s) and math.isfinite(reading.pressure_pa)
    assert 0.0 <= reading.battery_wh <= 1000.0


@settings(max_examples=100)
@given(st.lists(st.tuples(st.floats(0.0, 100.0), st.sampled_from(["a", "b", "c"])),
                max_size=300))
def test_refusal_logging_is_bounded_by_keys_and_intervals(events: list[tuple[float, str]]) -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger(f"ratelog-test-{hashlib.sha256(repr(events).encode()).hexdigest()}")
    logger.propagate = False
    logger.addHandler(Keep())
    limiter = RateLimitedLog(logger, interval_s=10.0)
    for now, key in sorted(events):
        limiter.log(now, key, f"refused {key}")
    limiter.flush(float("inf"))
    # At most one line and one summary per key and started interval; none lost silently.
    assert len(records) <= 2 * 3 * 11
    written = sum(1 for r in records if "more refused" not in r)
    summarised = sum(int(r.split(": ", 1)[1].split()[0]) for r in records if "more refused" in r)
    assert written + summarised == len(events)
