"""Shaped links between network namespaces: TUN devices and one forwarding process per direction.

`ShapedLink` opens a TUN device for each end in the caller's namespace, moves each into its
namespace (the open descriptor keeps working there), gives the ends point-to-point addresses
and starts two forwarders (`python -m stratolink.netshaper.tun`), each reading one device,
passing every packet through its own `ShapedQueue` and writing it to the other device when
it is due. Needs root (CAP_NET_ADMIN) and /dev/net/tun. Everything is removed by `close`:
forwarders are stopped by process id, which closes the devices.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass

from stratolink.errors import UnavailableError
from stratolink.netshaper.model import PathShape, ShapedQueue

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
READ_BATCH = 256  # packets read per wake-up before due ones are written


class ShaperError(UnavailableError):
    """A namespace or TUN device could not be set up."""


def run_ip(*args: str) -> None:
    """Run `ip ARGS` (iproute2), one clear error if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ShaperError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def open_tun(name: str) -> int:
    """Create TUN device `name` (IP packets, no extra header); its non-blocking descriptor."""
    if not 1 <= len(name) <= 15:
        raise ShaperError(f"TUN device name {name!r} must have 1-15 characters")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        raise ShaperError(f"cannot open /dev/net/tun: {exc.strerror}") from exc
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise ShaperError(f"cannot create TUN device {name}: {exc.strerror}") from exc
    return fd


class Namespace:
    """A network namespace made for a run (loopback up); `delete` removes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        run_ip("netns", "add", name)
        self.deleted = False
        try:
            run_ip("-n", name, "link", "set", "lo", "up")
        except ShaperError:
            self.delete()
            raise

    def command(self, argv: list[str]) -> list[str]:
        """`argv` to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def delete(self) -> None:
        """Remove the namespace (idempotent)."""
        if not self.deleted:
            self.deleted = True
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@dataclass(frozen=True)
class LinkEnd:
    """One end of a shaped link: its namespace, device name and address (IPv4)."""

    namespace: Namespace
    device: str
    address: str


class ShapedLink:
    """A point-to-point link `a` <-> `b` with the same shape in each direction."""

    def __init__(self, a: LinkEnd, b: LinkEnd, shape: PathShape, seed: int = 1) -> None:
        self.a, self.b, self.shape = a, b, shape
        self._forwarders: list[subprocess.Popen[str]] = []
        fds: list[int] = []
        try:
            for end in (a, b):
                fds.append(open_tun(end.device))
            for end, peer in ((a, b), (b, a)):
                run_ip("link", "set", "dev", end.device, "netns", end.namespace.name)
                ns = end.namespace.name
                run_ip("-n", ns, "addr", "add", end.address, "peer", f"{peer.address}/32",
                       "dev", end.device)
                run_ip("-n", ns, "link", "set", end.device, "up", "mtu", "1500")
            for i, (src, dst) in enumerate(((fds[0], fds[1]), (fds[1], fds[0]))):
                self._forwarders.append(subprocess.Popen(
                    [sys.executable, "-m", "stratolink.netshaper.tun", "--in-fd", str(src),
                     "--out-fd", str(dst), "--rate-bps", repr(shape.rate_bps),
                     "--delay-s", repr(shape.delay_s), "--loss", repr(shape.loss),
                     "--queue-packets", str(shape.queue_packets), "--seed", str(seed + i),
                     "--parent", str(os.getpid())],
                    pass_fds=(src, dst), stdout=subprocess.PIPE, text=True))
        except BaseException:
            self.close()
            raise
        finally:
            for fd in fds:  # the forwarders hold their own copies
                os.close(fd)

    def cut(self) -> None:
        """Cut the link both ways (every packet dropped); call again to restore it."""
        for proc in self._forwarders:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)

    def close(self) -> list[dict[str, int]]:
        """Stop the forwarders (by process id); their packet counts, a -> b first."""
        stats = []
        for proc in self._forwarders:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            lines = (out or "").strip().splitlines()
            stats.append(json.loads(lines[-1]) if lines else {})
        self._forwarders = []
        return stats


def forward(fd_in: int, fd_out: int, queue: ShapedQueue,
            parent_pid: int | None = None) -> dict[str, int]:
    """Move packets fd_in -> fd_out through `queue` until SIGTERM or the parent is gone.

    SIGUSR1 cuts the path (every packet dropped, as when a provider stops answering) and
    restores it on the next SIGUSR1.
    """
    pending: deque[tuple[float, bytes]] = deque()
    read, write, now_s = os.read, os.write, time.monotonic
    offer = queue.offer
    stop, cut = [False], [False]
    delivered = dropped_by_cut = 0

    def on_term(*_: object) -> None:
        stop[0] = True

    def on_cut(*_: object) -> None:
        cut[0] = not cut[0]

    signal.signal(signal.SIGUSR1, on_cut)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    next_parent_check = now_s() + 1.0
    while not stop[0]:
        timeout = max(pending[0][0] - now_s(), 0.0) if pending else 0.5
        try:
            ready, _, _ = select.select([fd_in], [], [], timeout)
        except InterruptedError:
            continue
        now = now_s()
        if ready:
            for _ in range(READ_BATCH):
                try:
                    packet = read(fd_in, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    stop[0] = True
                    break
                if cut[0]:
                    dropped_by_cut += 1
                    continue
                at = offer(now, len(packet))
                if at is not None:
                    pending.append((at, packet))
        while pending and pending[0][0] <= now:
            try:
                write(fd_out, pending.popleft()[1])
                delivered += 1
            except OSError:
                pass  # the far device is down: the packet is lost like on a real path
        if parent_pid is not None and now >= next_parent_check:
            next_parent_check = now + 1.0
            if os.getppid() != parent_pid:
                break  # whoever started us is gone: do not outlive it
    return {"offered": queue.offered, "lost": queue.lost, "overflowed": queue.overflowed,
            "delivered": delivered, "cut": dropped_by_cut}


def main(argv: list[str] | None = None) -> None:
    """Forwarder process: `python -m stratolink.netshaper.tun --in-fd N --out-fd M ...`."""
    parser = argparse.ArgumentParser(description="Forward packets between two TUN devices "
                                     "through a shaped queue (one direction).")
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--rate-bps", type=float, default=20e6)
    parser.add_argument("--delay-s", type=float, default=0.05)
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--queue-packets", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    shape = PathShape(args.rate_bps, args.delay_s, args.loss, args.queue_packets)
    stats = forward(args.in_fd, args.out_fd, ShapedQueue(shape, args.seed), args.parent)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
