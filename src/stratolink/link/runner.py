"""Run a LinkNode on real UDP sockets with asyncio (one socket per provider path).

The node stays sans-I/O: this adapter feeds it datagrams and wall-clock time, sends what it
returns, and sleeps until its next timer or the next datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from stratolink.link.node import LinkNode
from stratolink.link.ratelog import RateLimitedLog

log = logging.getLogger(__name__)


class _PathProtocol(asyncio.DatagramProtocol):
    def __init__(self, runner: UdpLinkRunner, path: str) -> None:
        self.runner = runner
        self.path = path

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.runner.on_datagram(self.path, data, (addr[0], addr[1]))


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
        self._failures = RateLimitedLog(log, interval_s=60.0, level=logging.ERROR)

    async def start(self) -> None:
        """Open the sockets and start the timer loop."""
        loop = asyncio.get_running_loop()
        for name, path in self.node.paths.items():
            local = path.local_address if self.node.is_client else path.gateway_address
            transport, _ = await loop.create_datagram_endpoint(
                lambda name=name: _PathProtocol(self, name),  # type: ignore[misc]
                local_addr=local or ("127.0.0.1", 0),
            )
            self._transports[name] = transport
        self._task = asyncio.create_task(self._loop())

    def local_address(self, path: str) -> tuple[str, int]:
        """The address a path's socket is bound to."""
        host, port = self._transports[path].get_extra_info("sockname")[:2]
        return str(host), int(port)

    def on_datagram(self, path: str, data: bytes, addr: tuple[str, int]) -> None:
        """Hand an arriving datagram to the node and send what it answers."""
        if self.passes is not None and not self.passes(path):
            return
        now = self.clock()
        if self.node.receive_datagram(path, data, addr, now):
            self.flush()  # refused datagrams cost no more than their refusal

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
                try:
                    self.on_wake(now)
                except Exception as exc:  # noqa: BLE001 - the link loop must outlive any bug
                    self._failures.log(now, "link loop", f"link loop: the application step "
                                       f"failed ({type(exc).__name__}: {str(exc)[:200]}); "
                                       "the link keeps running")
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
