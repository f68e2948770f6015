"""Run a LinkNode on real UDP sockets with asyncio (one socket per provider path).

The node stays sans-I/O: this adapter feeds it datagrams and wall-clock time, sends what it
returns, and sleeps until its next timer or the next datagram: one timer (`loop.call_at`),
armed on the node's next wake-up and re-armed after every step, never a polling loop.

The node, its store and the application's `on_wake` run on one thread of their own (the
link thread), never on the event loop: the store's commits wait for the disk, and the event
loop must keep reading sockets meanwhile. The event loop reads and writes the sockets only;
a step on the link thread takes the datagrams read since the last one, runs the node's
timers and the application, and returns what to send (a bundle is acknowledged only in the
datagrams of the step that committed it: durable before acknowledged). Touch the node from
elsewhere only through `call` or `call_soon`, which run on the link thread in order.

A balloon's path socket is bound to the path's local address (the wildcard address of the
gateway's family by default, any port) and, if the path names a network interface, to that
interface (`SO_BINDTODEVICE`, Linux, needs CAP_NET_RAW), so each provider's traffic leaves
through its own modem; the gateway may be any IPv4/IPv6 address or host name, resolved once
at start. The ground binds each path's gateway address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from stratolink.errors import UnavailableError
from stratolink.link.node import LinkNode
from stratolink.link.paths import PathConfig
from stratolink.link.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
SEND_ERROR_LOG_INTERVAL_S = 10.0
RECV_BATCH = 64  # datagrams read per wake-up before the node answers
RECV_BYTES = 65536
MAX_SEND_BACKLOG = 4096  # datagrams waiting for a full socket buffer; beyond: dropped
FRAGMENT_INTERVAL_S = 0.05  # the application runs this often while fragments wait or it is busy
MAX_INBOX = 8192  # datagrams read but not yet handed to the node; beyond: dropped
TIMER_SLACK_S = 0.0005  # a scheduled wake-up this close to the wanted time is kept
T = TypeVar("T")


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
    the node on its link thread: datagrams in, the node's timers, the application's
    `on_wake` (when bundles other than fragments or link events arrived, when `wake` or
    `call` is called, and every `app_interval_s` if given), datagrams out."""

    def __init__(self, node: LinkNode, clock: Callable[[], float] = time.time,
                 on_wake: Callable[[float], object] | None = None,
                 passes: Callable[[str], bool] | None = None,
                 app_interval_s: float | None = None,
                 busy: Callable[[], bool] | None = None) -> None:
        """`passes(path)`: may datagrams cross that path now (a modem without service drops
        them); `app_interval_s`: run the application that often at least (a gateway polls its
        commands); `busy()`: has it work it does a piece per run (queueing a big file)."""
        self.node = node
        self.clock = clock
        self.on_wake, self.passes, self.busy = on_wake, passes, busy
        self.app_interval_s = app_interval_s
        self._sockets: dict[str, _PathSocket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")
        self._inbox: list[tuple[str, bytes, tuple[str, int]]] = []
        self._stepping = False  # a step is on the link thread
        self._again = False  # something happened meanwhile: step again when it is back
        self._woken = False  # the application must run in the next step
        self._app_due = float("inf")
        self._arrivals_seen = -1
        self._events_seen = 0
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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link")
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
        """An arriving datagram, for the node's next step (call `after_receive` after a
        burst)."""
        if (self.passes is None or self.passes(path)) and len(self._inbox) < MAX_INBOX:
            self._inbox.append((path, data, addr))

    def after_receive(self) -> None:
        """After a burst of datagrams: hand them to the node on its link thread."""
        self._request()

    def wake(self) -> None:
        """Run the application and the node soon (e.g. after the application submitted)."""
        self._woken = True
        self._request()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the link thread (in order with the node's steps), then let
        the node and the application act on what it did; its result."""
        result = await asyncio.wrap_future(self._submit(fn, *args))
        self.wake()
        return result

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Like `call`, without waiting (an exception is logged)."""
        future = self._submit(fn, *args)
        future.add_done_callback(self._log_failure)
        self.wake()

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._thread is None:
            raise UnavailableError("the link runner is not running")
        return self._thread.submit(fn, *args)

    def _log_failure(self, future: Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            log.error("link thread: %s: %s", type(exc).__name__, exc)

    # ---- on the event loop -------------------------------------------------------------

    def _request(self) -> None:
        """Step the node now, or as soon as the step under way is back."""
        if self._loop is None or self._thread is None:
            return
        if self._stepping:
            self._again = True
            return
        self._stepping, self._again = True, False
        inbox, self._inbox = self._inbox, []
        woken, self._woken = self._woken, False
        loop = self._loop
        future = self._thread.submit(self._step, inbox, woken)
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._stepped, done))

    def _stepped(self, future: Future[tuple[list[tuple[str, bytes, tuple[str, int]]], float]],
                 ) -> None:
        """Back from the link thread: send what the node answered, re-arm the timer."""
        self._stepping = False
        if self._loop is None:
            return
        try:
            out, due = future.result()
        except Exception as exc:  # noqa: BLE001 - the link loop must outlive any bug
            self._failures.log(time.monotonic(), "link step", f"link step failed "
                               f"({type(exc).__name__}: {str(exc)[:200]}); retrying")
            out, due = [], self.clock() + 1.0
        for path, data, addr in out:
            path_socket = self._sockets.get(path)
            if path_socket is not None and (self.passes is None or self.passes(path)):
                path_socket.send(data, addr)
        if self._again or self._inbox or self._woken:
            self._request()
        else:
            self._arm(due)

    def _arm(self, due: float) -> None:
        """One timer, on the node's (or the application's) next wake-up."""
        assert self._loop is not None
        if self._timer is not None:
            if abs(self._timer_due - due) < TIMER_SLACK_S:
                return
            self._timer.cancel()
            self._timer = None
        self._timer_due = due
        if due != float("inf"):
            delay = max(due - self.clock(), 0.0)
            self._timer = self._loop.call_at(self._loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_due = None, float("inf")
        self._request()

    # ---- on the link thread ------------------------------------------------------------

    def _step(self, inbox: list[tuple[str, bytes, tuple[str, int]]], woken: bool,
              ) -> tuple[list[tuple[str, bytes, tuple[str, int]]], float]:
        """Datagrams in, timers, the application, datagrams out; and the next wake-up."""
        node = self.node
        now = self.clock()
        for path, data, addr in inbox:
            node.receive_datagram(path, data, addr, now)
        timer = node.next_timer()
        if timer is not None and timer <= now:
            node.handle_timer(now)
        out = node.datagrams_to_send(now)  # commits what arrived: acknowledged only now
        if self.on_wake is not None and (
                woken or now >= self._app_due or node.events_recorded != self._events_seen
                or node.deliverable_arrivals != self._arrivals_seen):
            self._run_app(now)
            out += node.datagrams_to_send(now)
        elif self.on_wake is not None and node.fragments_waiting:
            self._app_due = min(self._app_due, now + FRAGMENT_INTERVAL_S)
        due = node.next_timer()
        due = float("inf") if due is None else due
        return out, min(due, self._app_due)

    def _run_app(self, now: float) -> None:
        assert self.on_wake is not None
        self._arrivals_seen = self.node.deliverable_arrivals
        self._events_seen = self.node.events_recorded
        interval = self.app_interval_s
        self._app_due = float("inf") if interval is None else now + interval
        try:
            self.on_wake(now)
        except Exception as exc:  # noqa: BLE001 - the link loop must outlive any bug
            self._failures.log(now, "link loop", f"link loop: the application step failed "
                               f"({type(exc).__name__}: {str(exc)[:200]}); the link keeps "
                               "running")
        if self.node.fragments_waiting or (self.busy is not None and self.busy()):
            self._app_due = min(self._app_due, now + FRAGMENT_INTERVAL_S)

    async def stop(self) -> None:
        """Stop driving the node (after the step under way) and close the sockets."""
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.shutdown, wait=True)
        for path_socket in self._sockets.values():
            path_socket.close()
