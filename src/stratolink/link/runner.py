"""Run a LinkNode on real UDP sockets with asyncio (one socket per provider path).

The node stays sans-I/O: this adapter feeds it datagrams and wall-clock time, sends what it
returns, and sleeps until its next timer or the next datagram.

A balloon's path socket is bound to the path's local address (the wildcard address of the
gateway's family by default, any port) and, if the path names a network interface, to that
interface (`SO_BINDTODEVICE`, Linux, needs CAP_NET_RAW), so each provider's traffic leaves
through its own modem; the gateway may be any IPv4/IPv6 address or host name, resolved once
at start. The ground binds each path's gateway address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable

from stratolink.errors import StratolinkError
from stratolink.link.node import LinkNode
from stratolink.link.paths import PathConfig

log = logging.getLogger(__name__)
SEND_ERROR_LOG_INTERVAL_S = 10.0


class PathSocketError(StratolinkError):
    """A provider path's socket cannot be opened, bound or pointed at its gateway."""


async def _resolve(loop: asyncio.AbstractEventLoop, host: str, port: int, where: str,
                   passive: bool = False) -> list[tuple[int, tuple[str, int]]]:
    """(family, (address, port)) for `host`, IPv4 and IPv6, in the resolver's order."""
    try:
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM,
                                       flags=socket.AI_PASSIVE if passive else 0)
    except (OSError, UnicodeError) as exc:
        raise PathSocketError(f"{where}: cannot resolve {host!r}: {exc}") from exc
    return [(int(family), (str(addr[0]), int(addr[1])))
            for family, _, _, _, addr in infos if family in (socket.AF_INET, socket.AF_INET6)]


def bind_to_interface(sock: socket.socket, interface: str, where: str) -> None:
    """Send and receive on `sock` only through `interface` (Linux SO_BINDTODEVICE)."""
    option = getattr(socket, "SO_BINDTODEVICE", None)
    if option is None:
        raise PathSocketError(f"{where}: binding to interface {interface!r} needs Linux "
                              "(SO_BINDTODEVICE); set local_address instead")
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, interface.encode())
    except PermissionError as exc:
        raise PathSocketError(f"{where}: binding to interface {interface!r} needs "
                              "CAP_NET_RAW (run as root or grant the capability)") from exc
    except OSError as exc:
        raise PathSocketError(f"{where}: cannot bind to interface {interface!r}: "
                              f"{exc.strerror}") from exc


async def open_client_socket(path: PathConfig) -> tuple[socket.socket, tuple[str, int]]:
    """A balloon's UDP socket for `path`, bound as configured, and the gateway's address."""
    loop = asyncio.get_running_loop()
    where = f"path {path.name}"
    host, port = path.gateway_address
    gateways = await _resolve(loop, host, port, where)
    local_host, local_port = path.local_address or ("", 0)
    if local_host:
        locals_ = await _resolve(loop, local_host, local_port, where, passive=True)
        families = {family for family, _ in locals_}
        gateways = [g for g in gateways if g[0] in families]
        if not gateways:
            raise PathSocketError(f"{where}: gateway {host!r} has no address of the same "
                                  f"family as local address {local_host!r}")
        local = next(addr for family, addr in locals_ if family == gateways[0][0])
    if not gateways:
        raise PathSocketError(f"{where}: {host!r} has no IPv4 or IPv6 address")
    family, gateway = gateways[0]
    if not local_host:
        local = ("::" if family == socket.AF_INET6 else "0.0.0.0", local_port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if path.interface:
            bind_to_interface(sock, path.interface, where)
        sock.bind(local)
    except OSError as exc:
        sock.close()
        raise PathSocketError(f"{where}: cannot bind {local[0]} port {local[1]}: "
                              f"{exc.strerror}") from exc
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock, gateway


class _PathProtocol(asyncio.DatagramProtocol):
    def __init__(self, runner: UdpLinkRunner, path: str) -> None:
        self.runner = runner
        self.path = path

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.runner.on_datagram(self.path, data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        self.runner.on_send_error(self.path, exc)


class UdpLinkRunner:
    """Binds a socket per path (the ground binds each path's gateway address)."""

    def __init__(self, node: LinkNode, clock: Callable[[], float] = time.time,
                 on_wake: Callable[[float], object] | None = None,
                 passes: Callable[[str], bool] | None = None) -> None:
        """`passes(path)`, if given, says whether datagrams may cross that path now (a
        modem without service drops them both ways)."""
        self.node = node
        self.clock = clock
        self.on_wake = on_wake
        self.passes = passes
        self._transports: dict[str, asyncio.DatagramTransport] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error_logged_at: dict[str, float] = {}

    async def start(self) -> None:
        """Open the sockets (`PathSocketError` if one cannot be) and start the timer loop."""
        loop = asyncio.get_running_loop()
        try:
            for name, path in list(self.node.paths.items()):
                def protocol(name: str = name) -> _PathProtocol:
                    return _PathProtocol(self, name)

                if self.node.is_client:
                    sock, gateway = await open_client_socket(path)
                    self.node.set_gateway_address(name, gateway)
                    transport, _ = await loop.create_datagram_endpoint(protocol, sock=sock)
                else:
                    transport, _ = await loop.create_datagram_endpoint(
                        protocol, local_addr=path.gateway_address)
                self._transports[name] = transport
        except BaseException:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()
            raise
        self._task = asyncio.create_task(self._loop())

    def on_send_error(self, path: str, exc: Exception) -> None:
        """A socket reported an error (unreachable, no route): log it, at most every 10 s."""
        now = time.monotonic()
        if now - self._error_logged_at.get(path, -SEND_ERROR_LOG_INTERVAL_S) \
                >= SEND_ERROR_LOG_INTERVAL_S:
            self._error_logged_at[path] = now
            log.warning("path %s: socket error: %s", path, exc)

    def local_address(self, path: str) -> tuple[str, int]:
        """The address a path's socket is bound to."""
        host, port = self._transports[path].get_extra_info("sockname")[:2]
        return str(host), int(port)

    def on_datagram(self, path: str, data: bytes, addr: tuple[str, int]) -> None:
        """Hand an arriving datagram to the node and send what it answers."""
        if self.passes is not None and not self.passes(path):
            return
        now = self.clock()
        self.node.receive_datagram(path, data, addr, now)
        self.flush()

    def wake(self) -> None:
        """Let the loop run now (e.g. after the application submitted bundles)."""
        self._wake.set()

    def flush(self) -> None:
        """Send everything the node has to send."""
        now = self.clock()
        for path, data, addr in self.node.datagrams_to_send(now):
            transport = self._transports.get(path)
            if transport is not None and (self.passes is None or self.passes(path)):
                transport.sendto(data, addr)

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            timer = self.node.next_timer()
            if timer is not None and timer <= now:
                self.node.handle_timer(now)
            if self.on_wake is not None:
                self.on_wake(now)
            self.flush()
            timer = self.node.next_timer()
            delay = 0.05 if timer is None else min(max(timer - self.clock(), 0.0), 0.05)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def stop(self) -> None:
        """Stop the loop and close the sockets."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for transport in self._transports.values():
            transport.close()
