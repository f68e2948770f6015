"""The error tree over HTTP: caller errors are 4xx with their message, environment errors
503 with Retry-After, peer errors a fixed 400 logged once per interval."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from stratolink.errors import (
    CallerError,
    InvalidParameterError,
    PeerError,
    StratolinkError,
    UnavailableError,
)
from stratolink.ground.errors_http import PEER_DETAIL, UNAVAILABLE_DETAIL, install_error_handlers
from stratolink.ground.store import CommandStateError, NotFoundError
from stratolink.link.bundle import BundleError
from stratolink.link.store import StoreError


def _app(exc: Exception, retry_after_s: int | None = None) -> TestClient:
    """A one-route app whose route raises `exc`."""
    app = FastAPI()
    install_error_handlers(app, retry_after_s=retry_after_s)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("exc", "status"), [
    (InvalidParameterError("altitude 90000 m is above the balloon's ceiling"), 400),
    (NotFoundError("balloon 'SL-9' does not exist"), 404),
    (CommandStateError("command 3 is accepted: it cannot be queued again"), 409),
    (StratolinkError("wind data file x.grib2 does not exist"), 400),
])
def test_caller_errors_are_4xx_with_their_one_line_message(exc: Exception, status: int) -> None:
    answer = _app(exc).get("/boom")
    assert answer.status_code == status
    assert answer.json() == {"detail": str(exc)}


def test_a_multi_line_message_is_folded_to_one_line() -> None:
    answer = _app(CallerError("first line\n  second line")).get("/boom")
    assert answer.status_code == 400 and answer.json() == {"detail": "first line second line"}


def test_environment_errors_are_503_with_retry_after() -> None:
    answer = _app(StoreError("bundle store is busy")).get("/boom")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(UnavailableError.retry_after_s)
    assert answer.json() == {"detail": "bundle store is busy"}
    assert _app(UnavailableError("disk full"), retry_after_s=30).get("/boom").headers[
        "Retry-After"] == "30"


def test_a_database_failure_is_503_without_the_database_text() -> None:
    locked = OperationalError("INSERT INTO telemetry ...", {}, Exception("database is locked"))
    answer = _app(locked).get("/boom")
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert answer.json() == {"detail": UNAVAILABLE_DETAIL}


def test_peer_errors_are_a_fixed_400_logged_once_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    client = _app(BundleError("bad CBOR at offset 17"))
    with caplog.at_level(logging.WARNING, logger="stratolink.ground.errors_http"):
        answers = [client.get("/boom") for _ in range(5)]
    assert {a.status_code for a in answers} == {400}
    assert all(a.json() == {"detail": PEER_DETAIL} for a in answers)  # nothing to probe with
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "BundleError" in lines[0] and "offset 17" in lines[0]


def test_the_tree_has_three_branches_under_the_root() -> None:
    for branch in (CallerError, PeerError, UnavailableError):
        assert issubclass(branch, StratolinkError)
    assert issubclass(InvalidParameterError, ValueError)  # still caught as ValueError
    assert issubclass(BundleError, PeerError) and issubclass(StoreError, UnavailableError)
    assert issubclass(NotFoundError, CallerError)
