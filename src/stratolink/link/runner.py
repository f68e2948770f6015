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
import logging
import math
import socket
import time
from collections import deque
from collections.abc import Callable

from stratolink.errors import UnavailableError
from stratolink.link.node import LinkNode
from stratolink.link.paths import PathConfig
from stratolink.link.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
SEND_ERROR_LOG_INTERVAL_S = 10.0
RECV_BATCH = 64  # datagrams read per wake-up before the node answers
RECV_BYTES = 65536
MAX_SEND_BACKLOG = 4096  # datagrams waiting for a full socket buffer; beyond: dropped
APP_INTERVAL_S = 0.05  # the application runs at least this often
TIMER_SLACK_S = 0.0005  # a scheduled wake-up this close to the wanted time is kept


class PathSocketError(UnavailableError):
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


def _bound_socket(family: int, address: tuple[str, int], interface: str | None,
                  where: str) -> socket.socket:
    """A non-blocking UDP socket bound to `address` (and `interface`, if given)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if interface:
            bind_to_interface(sock, interface, where)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise PathSocketError(f"{where}: cannot bind {address[0]} port {address[1]}: "
                              f"{exc.strerror}") from exc
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


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
    return _bound_socket(family, local, path.interface, where), gateway


class _PathSocket:
    """One path's non-blocking UDP socket on the event loop: reads every datagram waiting
    (up to a batch) per wake-up, so the node answers a burst once, not once per datagram."""

    def __init__(self, runner: UdpLinkRunner, path: str, sock: socket.socket,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.runner, self.path, self.sock, self.loop = runner, path, sock, loop
        self.backlog: deque[tuple[bytes, tuple[str, int]]] = deque()
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        received = 0
        for _ in range(RECV_BATCH):
            try:
                data, addr = self.sock.recvfrom(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # an ICMP error for something sent earlier
                self.runner.on_send_error(self.path, exc)
                break
            self.runner.receive(self.path, data, (str(addr[0]), int(addr[1])))
            received += 1
        if received:
            self.runner.after_receive()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.backlog:
            if len(self.backlog) < MAX_SEND_BACKLOG:  # beyond that: lost, as on a full modem
                self.backlog.append((data, addr))
            return
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.backlog.append((data, addr))
            self.loop.add_writer(self.sock.fileno(), self._writable)
        except OSError as exc:
            self.runner.on_send_error(self.path, exc)

    def _writable(self) -> None:
        while self.backlog:
            data, addr = self.backlog[0]
            try:
                self.sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.runner.on_send_error(self.path, exc)
            self.backlog.popleft()
        self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        if self.backlog:
            self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


async def open_server_socket(path: PathConfig) -> socket.socket:
    """The ground's UDP socket for `path`, bound to its gateway address."""
    loop = asyncio.get_running_loop()
    where = f"path {path.name}"
    host, port = path.gateway_address
    addresses = await _resolve(loop, host, port, where, passive=True)
    if not addresses:
        raise PathSocketError(f"{where}: {host!r} has no IPv4 or IPv6 address")
    family, address = addresses[0]
    return _bound_socket(family, address, path.interface, where)


class UdpLinkRunner:
    """Binds a socket per path (the ground binds each path's gateway address) and drives
    the node: datagrams in, the node's timers, the application's `on_wake` (at least every
    50 ms, and at once when bundles other than fragments arrived or `wake` is called),
    datagrams out."""

    def __init__(self, node: LinkNode, clock: Callable[[], float] = time.time,
                 on_wake: Callable[[float], object] | None = None,
                 passes: Callable[[str], bool] | None = None) -> None:
        """`passes(path)`, if given, says whether datagrams may cross that path now (a
        modem without service drops them both ways)."""
        self.node = node
        self.clock = clock
        self.on_wake = on_wake
        self.passes = passes
        self._sockets: dict[str, _PathSocket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._soon: asyncio.Handle | None = None
        self._app_due = 0.0
        self._arrivals_seen = -1
        self._error_logged_at: dict[str, float] = {}
        self._failures = RateLimitedLog(log, interval_s=60.0, level=logging.ERROR)

    async def start(self) -> None:
        """Open the sockets (`PathSocketError` if one cannot be) and start driving the node."""
        loop = asyncio.get_running_loop()
        try:
            for name, path in list(self.node.paths.items()):
                if self.node.is_client:
                    sock, gateway = await open_client_socket(path)
                    self.node.set_gateway_address(name, gateway)
                else:
                    sock = await open_server_socket(path)
                self._sockets[name] = _PathSocket(self, name, sock, loop)
        except BaseException:
            for path_socket in self._sockets.values():
                path_socket.close()
            self._sockets.clear()
            raise
        self._loop = loop
        self.wake()

    def on_send_error(self, path: str, exc: Exception) -> None:
        """A socket reported an error (unreachable, no route): log it, at most every 10 s."""
        now = time.monotonic()
        if now - self._error_logged_at.get(path, -SEND_ERROR_LOG_INTERVAL_S) \
                >= SEND_ERROR_LOG_INTERVAL_S:
            self._error_logged_at[path] = now
            log.warning("path %s: socket error: %s", path, exc)

    def local_address(self, path: str) -> tuple[str, int]:
        """The address a path's socket is bound to."""
        host, port = self._sockets[path].sock.getsockname()[:2]
        return str(host), int(port)

    def receive(self, path: str, data: bytes, addr: tuple[str, int]) -> None:
        """Hand an arriving datagram to the node (call `after_receive` after a burst)."""
        if self.passes is None or self.passes(path):
            self.node.receive_datagram(path, data, addr, self.clock())

    def after_receive(self) -> None:
        """After a burst of datagrams: send what the node answers (which also commits what
        arrived), then let the application see new bundles at once."""
        self.flush()
        if self.on_wake is not None and self.node.deliverable_arrivals != self._arrivals_seen:
            self._run_app(self.clock())
            self.flush()
        self._schedule()

    def on_datagram(self, path: str, data: bytes, addr: tuple[str, int]) -> None:
        """Hand one arriving datagram to the node and send what it answers."""
        self.receive(path, data, addr)
        self.after_receive()

    def wake(self) -> None:
        """Run the application and the node now (e.g. after the application submitted)."""
        if self._soon is None and self._loop is not None:
            self._soon = self._loop.call_soon(self._step, True)

    def flush(self) -> None:
        """Send everything the node has to send."""
        now = self.clock()
        for path, data, addr in self.node.datagrams_to_send(now):
            path_socket = self._sockets.get(path)
            if path_socket is not None and (self.passes is None or self.passes(path)):
                path_socket.send(data, addr)

    def _run_app(self, now: float) -> None:
        assert self.on_wake is not None
        self._arrivals_seen = self.node.deliverable_arrivals
        self._app_due = now + APP_INTERVAL_S
        try:
            self.on_wake(now)
        except Exception as exc:  # noqa: BLE001 - the link loop must outlive any bug
            self._failures.log(now, "link loop", f"link loop: the application step failed "
                               f"({type(exc).__name__}: {str(exc)[:200]}); the link keeps "
                               "running")

    def _step(self, woken: bool = False) -> None:
        if woken:
            self._soon = None
        else:
            self._timer, self._timer_due = None, math.inf
        now = self.clock()
        timer = self.node.next_timer()
        if timer is not None and timer <= now:
            self.node.handle_timer(now)
        if self.on_wake is not None and (woken or now >= self._app_due
                                         or self.node.deliverable_arrivals != self._arrivals_seen):
            self._run_app(now)
        self.flush()
        self._schedule()

    def _schedule(self) -> None:
        """Sleep until the node's next timer (at most APP_INTERVAL_S)."""
        if self._loop is None:
            return
        now = self.clock()
        due = now + APP_INTERVAL_S
        timer = self.node.next_timer()
        if timer is not None:
            due = min(due, timer)
        if self.on_wake is not None:
            due = min(due, self._app_due)
        if self._timer is not None:
            if abs(self._timer_due - due) < TIMER_SLACK_S:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self._loop.call_later(max(due - now, 0.0), self._step)

    async def stop(self) -> None:
        """Stop driving the node and close the sockets."""
        self._loop = None
        for handle in (self._timer, self._soon):
            if handle is not None:
                handle.cancel()
        self._timer = self._soon = None
        for path_socket in self._sockets.values():
            path_socket.close()
