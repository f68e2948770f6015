"""Provider path sockets: bound to a configured local address or interface (default: the
wildcard address), reaching the gateway by IPv4, IPv6 or host name; the [[ground]] keys."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from stratolink.errors import InvalidParameterError
from stratolink.link.bundle import Priority, new_bundle
from stratolink.link.paths import LinkSettings, PathConfig
from stratolink.link.runner import PathSocketError, UdpLinkRunner, open_client_socket
from stratolink.link.simnet import LinkPair
from stratolink.onboard.runconfig import flight_from_dict


def _free_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _has_ipv6_loopback() -> bool:
    try:
        _free_port(socket.AF_INET6, "::1")
    except OSError:
        return False
    return True


def _cross(tmp_path: Path, ground_path: PathConfig, balloon_path: PathConfig) -> tuple[str, str]:
    """One bundle from a balloon on `balloon_path` to a ground on `ground_path`; returns
    the address the balloon's socket was bound to and the gateway address it used."""
    settings = LinkSettings()
    ground = LinkPair(tmp_path, "balloon/SL-1", [ground_path], settings).ground()
    balloon = LinkPair(tmp_path, "balloon/SL-1", [balloon_path], settings).balloon()
    seen: list[str] = []

    def ground_app(now: float) -> None:
        for b in ground.take_deliveries(now):
            seen.append(b.id)
            ground.mark_delivered(b.id)

    async def scenario() -> tuple[str, str]:
        g = UdpLinkRunner(ground, on_wake=ground_app)
        await g.start()
        b = UdpLinkRunner(balloon)
        await b.start()
        bundle = new_bundle("balloon/SL-1", "ground", Priority.NAVIGATION, "position",
                            os.urandom(64), now=time.time(), lifetime=600.0)
        await b.call(balloon.submit, bundle, time.time())  # on the node's link thread
        try:
            for _ in range(300):  # at most 30 s
                if seen:
                    break
                await asyncio.sleep(0.1)
            assert seen == [bundle.id]
            return b.local_address(balloon_path.name)[0], balloon.paths[
                balloon_path.name].gateway_address[0]
        finally:
            await b.stop()
            await g.stop()

    return asyncio.run(scenario())


def test_default_binds_the_wildcard_address(tmp_path: Path) -> None:
    port = _free_port()
    local, gateway = _cross(tmp_path, PathConfig("net", ("127.0.0.1", port)),
                            PathConfig("net", ("127.0.0.1", port)))
    assert local == "0.0.0.0"
    assert gateway == "127.0.0.1"


def test_gateway_by_host_name_from_a_configured_local_address(tmp_path: Path) -> None:
    port = _free_port()
    local, gateway = _cross(tmp_path, PathConfig("net", ("127.0.0.1", port)),
                            PathConfig("net", ("localhost", port),
                                       local_address=("127.0.0.1", 0)))
    assert local == "127.0.0.1"
    assert gateway == "127.0.0.1"  # resolved to the local address's family


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_gateway_at_an_ipv6_address(tmp_path: Path) -> None:
    port = _free_port(socket.AF_INET6, "::1")
    local, gateway = _cross(tmp_path, PathConfig("net", ("::1", port)),
                            PathConfig("net", ("::1", port)))
    assert local == "::"
    assert gateway == "::1"


@pytest.mark.skipif(os.geteuid() != 0, reason="SO_BINDTODEVICE needs CAP_NET_RAW")
def test_bound_to_an_interface(tmp_path: Path) -> None:
    port = _free_port()
    local, _ = _cross(tmp_path, PathConfig("net", ("127.0.0.1", port)),
                      PathConfig("net", ("127.0.0.1", port), interface="lo"))
    assert local == "0.0.0.0"


def test_unusable_bindings_are_one_clear_error() -> None:
    async def attempt(path: PathConfig) -> str:
        with pytest.raises(PathSocketError) as err:
            sock, _ = await open_client_socket(path)
            sock.close()
        return str(err.value)

    if os.geteuid() == 0:
        message = asyncio.run(attempt(PathConfig("net", ("127.0.0.1", 9), interface="nosuch9")))
        assert "nosuch9" in message
    message = asyncio.run(attempt(PathConfig("net", ("127.0.0.1", 9),
                                             local_address=("::1", 0))))
    assert "same family" in message
    message = asyncio.run(attempt(PathConfig("net", ("no-such-host.invalid", 9))))
    assert "cannot resolve" in message


def _config(**ground: object) -> dict[str, object]:
    return {"flight": {"balloon_id": "SL-1", "keys": "k", "state": "s", "operators": ["op"]},
            "target": {"lat": 0.0, "lon": 0.0},
            "ground": [{"name": "leo", "address": "[2001:db8::1]:4433", **ground}]}


def test_ground_path_binding_keys() -> None:
    config = flight_from_dict(_config(local_address="192.0.2.7", local_port=5000,
                                      interface="wwan0"))
    path = config.ground[0]
    assert (path.host, path.port) == ("2001:db8::1", 4433)
    assert (path.local_address, path.local_port, path.interface) == ("192.0.2.7", 5000, "wwan0")
    plain = flight_from_dict(_config()).ground[0]
    assert (plain.local_address, plain.local_port, plain.interface) == (None, 0, None)


@pytest.mark.parametrize("keys", [{"interface": "a/b"}, {"interface": ""},
                                  {"interface": "x" * 16}, {"local_port": 70000},
                                  {"local_port": 1.5}, {"local_address": 7},
                                  {"local_address": ""}, {"bind": "x"}])
def test_bad_binding_keys_are_refused(keys: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        flight_from_dict(_config(**keys))
