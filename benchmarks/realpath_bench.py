"""Real-path benchmark: the real `flight run` and `ground serve` processes on shaped paths.

Needs root (network namespaces, TUN devices) and iperf3. Two network namespaces, "flight"
and "ground", are joined by two provider paths through the project's user-space shaper
(`stratolink.netshaper`): each path RATE bit/s, DELAY one way, LOSS random loss each way, a
1000-packet queue. In the same run, through the same shaper:

1. the shaper itself: iperf3 UDP at the path rate (what it carries, and its loss);
2. kernel TCP BBR and CUBIC (iperf3, path 1): what a user would otherwise run;
3. `stratolink flight run` with path 1 only: a spooled file of FILE_MB until stored
   byte-identical at the gateway (goodput = file bits / time / rate), while a sensor line
   every 0.2 s goes down as a navigation bundle (latency = line written -> row in the ground
   store, which the ground API serves);
4. a new `flight run` with both paths: the same size of file striped over both (two-path
   speedup T = goodput on two paths / goodput on one);
5. on that flight, another file, and path 1 cut mid-transfer (the shaper drops everything):
   failover F = time from the cut until the last bundle that was in flight on path 1 is
   stored at the ground (resent on path 2).

Every file and every sensor row must be stored exactly once (lost, duplicated). Namespaces
and processes are removed by id whatever happens. Last line:
{"bench": "realpath", "goodput_fraction": G, "bbr_fraction": B, "cubic_fraction": C,
 "two_path_speedup": T, "failover_s": F, "nav_latency_p99_s": L, "lost": 0, "duplicated": 0}
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from stratolink.link.keys import KeyRing
from stratolink.netshaper.model import PathShape
from stratolink.netshaper.tun import LinkEnd, Namespace, ShapedLink

BALLOON = "SL-RP"
OPERATOR = "flight-director"
GATEWAY_PORT = 4433
HTTP_PORT = 8080
READING_INTERVAL_S = 0.2
# Path i: flight 198.18.i.1 <-> ground 198.18.i.2 (the benchmarking range, RFC 2544).
PATHS = (("p1", "198.18.1.1", "198.18.1.2"), ("p2", "198.18.2.1", "198.18.2.2"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Run:
    """Everything the benchmark started, removed by id on exit (also via atexit/SIGTERM)."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.flight_ns = Namespace(f"slf{tag}")
        self.ground_ns = Namespace(f"slg{tag}")
        self.links: list[ShapedLink] = []
        self.processes: list[subprocess.Popen[Any]] = []
        self.closed = False

    def add_links(self, shape: PathShape) -> None:
        tag = f"{os.getpid() % 100000}"
        for i, (_name, flight_ip, ground_ip) in enumerate(PATHS):
            self.links.append(ShapedLink(
                LinkEnd(self.flight_ns, f"slf{tag}t{i}", flight_ip),
                LinkEnd(self.ground_ns, f"slg{tag}t{i}", ground_ip), shape, seed=10 * i + 1))

    def start(self, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.processes.append(proc)
        return proc

    def close(self) -> list[list[dict[str, int]]]:
        if self.closed:
            return []
        self.closed = True
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stats = [link.close() for link in self.links]
        self.flight_ns.delete()
        self.ground_ns.delete()
        return stats


def profiler(run: Run, pid: int, out: Path) -> subprocess.Popen[Any]:
    """py-spy sampling process `pid` into `out` (collapsed stacks) until interrupted."""
    beside = Path(sys.executable).parent / "py-spy"  # else the one on PATH
    return run.start(subprocess.Popen(
        [str(beside) if beside.exists() else "py-spy", "record", "--pid", str(pid), "--rate",
         "100", "--format", "raw", "--nonblocking", "--threads", "--idle", "--output",
         str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def stop_profiler(proc: subprocess.Popen[Any] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def iperf(run: Run, args: list[str], seconds: float) -> dict[str, Any]:
    """One iperf3 run on path 1 (server in the ground namespace); its JSON summary."""
    ground_ip = PATHS[0][2]
    server = run.start(subprocess.Popen(
        run.ground_ns.command(["iperf3", "-s", "-1", "-B", ground_ip, "-p", "5201"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for _ in range(50):  # the server needs a moment to listen
            done = subprocess.run(
                run.flight_ns.command(["iperf3", "-c", ground_ip, "-p", "5201", "-J",
                                       "-t", str(seconds), *args]),
                capture_output=True, text=True, timeout=seconds + 60, check=False)
            if done.returncode == 0:
                return dict(json.loads(done.stdout)["end"])
            time.sleep(0.2)
        raise RuntimeError(f"iperf3 failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()
            server.wait()


class GroundWatch:
    """Polls the ground's mission store: when each sensor row (by latitude) first appears."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.seen: dict[float, float] = {}  # latitude -> first time seen
        self.copies: dict[float, int] = {}
        self._last_id = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        con: sqlite3.Connection | None = None
        while not self._stop.is_set():
            try:
                if con is None:
                    if not self.db.exists():
                        time.sleep(0.1)
                        continue
                    con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
                rows = con.execute("SELECT id, lat FROM telemetry WHERE balloon_id = ? AND "
                                   "id > ? ORDER BY id", (BALLOON, self._last_id)).fetchall()
            except sqlite3.Error:
                time.sleep(0.1)
                continue
            now = time.time()
            for row_id, lat in rows:
                self._last_id = max(self._last_id, int(row_id))
                key = round(float(lat), 6)
                self.seen.setdefault(key, now)
                self.copies[key] = self.copies.get(key, 0) + 1
            time.sleep(0.02)
        if con is not None:
            con.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Flight:
    """A `flight run` process in the flight namespace, fed a sensor line every 0.2 s."""

    count = 0

    def __init__(self, run: Run, work: Path, paths: list[int]) -> None:
        Flight.count += 1
        self.dir = work / f"flight{Flight.count}"
        self.spool = self.dir / "spool"
        self.spool.mkdir(parents=True)
        grounds = "".join(
            f'\n[[ground]]\nname = "{PATHS[i][0]}"\naddress = "{PATHS[i][2]}:{GATEWAY_PORT}"\n'
            f'local_address = "{PATHS[i][1]}"\npreference = {i}\n' for i in paths)
        config = self.dir / "flight.toml"
        config.write_text(f"""
[flight]
balloon_id = "{BALLOON}"
keys = "../keys"
state = "../state"
operators = ["{OPERATOR}"]
controller = "greedy"
sensors = "stdin"
spool = "spool"

[target]
lat = -44.3
lon = 171.0
{grounds}
[agent]
decision_minutes = 60
position_minutes = 0.000000001  # every reading goes down as a position
telemetry_minutes = 600
""")
        self.proc = run.start(subprocess.Popen(
            run.flight_ns.command([sys.executable, "-m", "stratolink", "flight", "run",
                                   "--config", str(config)]),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "w"),  # noqa: SIM115 - closed with the process
            text=True, cwd=self.dir))
        self.sent: dict[float, float] = {}  # latitude -> time the line was written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        stdin: TextIO | None = self.proc.stdin
        assert stdin is not None
        while not self._stop.is_set() and self.proc.poll() is None:
            lat = round(-44.0 - 1e-5 * (len(Reading.all) + 1), 6)
            line = json.dumps({"lat": lat, "lon": 169.5, "alt": 17500.0, "battery_soc": 0.8})
            try:
                stdin.write(line + "\n")
                stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            now = time.time()
            self.sent[lat] = now
            Reading.all[lat] = now
            self._stop.wait(READING_INTERVAL_S)

    def drop_file(self, name: str, size: int) -> tuple[bytes, float]:
        """Write a random file into the spool (settled at once); its SHA-256 and the time."""
        data = os.urandom(size)
        hidden = self.spool / f".{name}"
        hidden.write_bytes(data)
        past = time.time() - 60
        os.utime(hidden, (past, past))
        now = time.time()
        hidden.rename(self.spool / name)
        return hashlib.sha256(data).digest(), now

    def state_db(self) -> Path:
        return self.dir.parent / "state" / "bundles.db"

    def stop(self) -> None:
        """Stop the sensor lines; closing stdin lets the process drain and exit."""
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(BrokenPipeError, OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=15)


class Reading:
    all: dict[float, float] = {}  # every sensor line written: latitude -> time


def wait_for(condition: Any, timeout_s: float, what: str, poll_s: float = 0.05) -> float:
    """Poll until `condition()` holds; the time it first did."""
    deadline = time.time() + timeout_s
    while True:
        if condition():
            return time.time()
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def stored_copies(files_dir: Path, name: str) -> list[Path]:
    return [p for p in files_dir.glob(f"*-{name}") if p.is_file()] if files_dir.is_dir() else []


def transfer(flight: Flight, files_dir: Path, name: str, size: int,
             timeout_s: float) -> tuple[float, bytes, float]:
    """Drop a file and wait until it is stored at the gateway; (seconds, sha256, start)."""
    digest, start = flight.drop_file(name, size)
    end = wait_for(lambda: stored_copies(files_dir, name), timeout_s, f"file {name}")
    return end - start, digest, start


def in_flight_on(db: Path, path: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        return {r[0] for r in con.execute("SELECT id FROM outbound WHERE leased_to = ?", (path,))}


def received_at(db: Path, ids: set[str]) -> dict[str, float]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        return {i: float(t) for i, t in con.execute("SELECT id, received_at FROM inbound")
                if i in ids}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file-mb", type=float, default=100.0, help="bulk file size (MB)")
    parser.add_argument("--failover-file-mb", type=float, default=None,
                        help="file for the failover phase (default: file-mb / 2)")
    parser.add_argument("--iperf-s", type=float, default=30.0, help="seconds per iperf3 run")
    parser.add_argument("--rate-mbit", type=float, default=20.0)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per transfer")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the flight and ground during the one-path transfer, "
                        "collapsed stacks into this folder")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("realpath_bench needs root (network namespaces, TUN devices)")
    rate_bps = args.rate_mbit * 1e6
    shape = PathShape(rate_bps, args.delay_ms / 1000.0, args.loss, 1000)
    size = int(args.file_mb * 1e6)
    failover_size = int((args.failover_file_mb or args.file_mb / 2) * 1e6)
    work = Path(tempfile.mkdtemp(prefix="sl-realpath-"))
    run = Run()
    atexit.register(run.close)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lost = duplicated = 0
    result: dict[str, Any] = {}
    try:
        run.add_links(shape)
        ring = KeyRing(work / "keys")
        ring.generate("ground", "ground")
        ring.generate(BALLOON, "balloon")
        ring.generate(OPERATOR, "operator")

        log("shaper check: iperf3 UDP at the path rate")
        udp = iperf(run, ["-u", "-b", f"{args.rate_mbit}M", "-l", "1300"], args.iperf_s)
        udp_bps = float(udp["sum"]["bits_per_second"]) * (1 - udp["sum"]["lost_percent"] / 100)
        result["shaper_fraction"] = udp_bps / (rate_bps * (1 - args.loss))
        log(f"  carried {udp_bps / 1e6:.2f} Mbit/s, {udp['sum']['lost_percent']:.2f}% lost")
        for algorithm in ("bbr", "cubic"):
            log(f"kernel TCP {algorithm} (iperf3, {args.iperf_s:.0f} s)")
            tcp = iperf(run, ["-C", algorithm], args.iperf_s)
            bps = float(tcp["sum_received"]["bits_per_second"])
            result[f"{algorithm}_fraction"] = bps / rate_bps
            log(f"  {bps / 1e6:.2f} Mbit/s = {bps / rate_bps:.3f} of the path")

        ground_dir = work / "ground"
        ground_dir.mkdir()
        mission_db = ground_dir / "mission.db"
        ground = run.start(subprocess.Popen(
            run.ground_ns.command([
                sys.executable, "-m", "stratolink", "ground", "serve", "--db",
                f"sqlite:///{mission_db}", "--host", "0.0.0.0", "--port", str(HTTP_PORT),
                "--gateway-port", str(GATEWAY_PORT), "--keys", str(work / "keys")]),
            cwd=ground_dir, stdout=subprocess.DEVNULL,
            stderr=open(ground_dir / "stderr.log", "w")))  # noqa: SIM115
        files_dir = ground_dir / "stratolink-gateway" / "files"
        gateway_db = ground_dir / "stratolink-gateway" / "bundles.db"
        watch = GroundWatch(mission_db)
        digests: dict[str, bytes] = {}
        try:
            # One path.
            flight = Flight(run, work, [0])
            wait_for(lambda: any(lat in watch.seen for lat in flight.sent), 180,
                     "the first sensor row over path 1")
            log(f"one path: {args.file_mb:g} MB file")
            spies = []
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                spies = [profiler(run, flight.proc.pid, args.profile / "flight.txt"),
                         profiler(run, ground.pid, args.profile / "ground.txt")]
            seconds1, digests["one.bin"], start = transfer(flight, files_dir, "one.bin", size,
                                                           args.timeout_s)
            for spy in spies:
                stop_profiler(spy)
            during = [lat for lat, t in flight.sent.items() if start <= t <= start + seconds1]
            during = during or list(flight.sent)  # (a tiny file may beat the next line)
            flight.stop()
            wait_for(lambda: all(lat in watch.seen for lat in flight.sent), 60,
                     "every sensor row of the first flight")
            nav = [watch.seen[lat] - flight.sent[lat] for lat in during]
            goodput1 = size * 8 / seconds1
            result["goodput_fraction"] = goodput1 / rate_bps
            log(f"  {seconds1:.1f} s, {goodput1 / 1e6:.2f} Mbit/s; navigation rows during it: "
                f"{len(nav)}, p50 {percentile(nav, 0.5):.3f} s, p99 {percentile(nav, 0.99):.3f} s")
            slowest = sorted(during, key=lambda lat: flight.sent[lat] - watch.seen[lat])[:3]
            log("  slowest rows (written s after the file was dropped: waited s): " + ", ".join(
                f"{flight.sent[lat] - start:.1f}: {watch.seen[lat] - flight.sent[lat]:.2f}"
                for lat in slowest))

            # Two paths.
            flight = Flight(run, work, [0, 1])
            wait_for(lambda: any(lat in watch.seen for lat in flight.sent), 180,
                     "the first sensor row over two paths")
            time.sleep(2.0)  # both handshakes done (one round trip each)
            log(f"two paths: {args.file_mb:g} MB file")
            seconds2, digests["two.bin"], _ = transfer(flight, files_dir, "two.bin", size,
                                                       args.timeout_s)
            goodput2 = size * 8 / seconds2
            result["two_path_speedup"] = goodput2 / goodput1
            log(f"  {seconds2:.1f} s, {goodput2 / 1e6:.2f} Mbit/s, "
                f"{goodput2 / goodput1:.2f} x one path")

            # Failover: cut path 1 a third of the way into a transfer.
            log(f"failover: {failover_size / 1e6:g} MB file, path 1 cut mid-transfer")
            digests["cut.bin"], start = flight.drop_file("cut.bin", failover_size)
            time.sleep(max(failover_size * 8 / (2 * rate_bps) / 3, 1.0))
            cut_at = time.time()
            run.links[0].cut()
            moved = in_flight_on(flight.state_db(), PATHS[0][0])
            wait_for(lambda: stored_copies(files_dir, "cut.bin"), args.timeout_s, "file cut.bin")
            arrived = wait_for(lambda: len(received_at(gateway_db, moved)) == len(moved), 60,
                               "the bundles that were in flight on path 1", poll_s=0.2)
            times = received_at(gateway_db, moved)
            # A bundle still leased at the cut may have reached the gateway just before it
            # (its acknowledgement not yet back): it needed no failover, so it counts as 0.
            result["failover_s"] = max([max(t - cut_at, 0.0) for t in times.values()],
                                       default=0.0)
            log(f"  {len(moved)} bundles in flight on path 1 at the cut; the last stored "
                f"{result['failover_s']:.2f} s after it (checked at {arrived - cut_at:.1f} s)")
            flight.stop()
            wait_for(lambda: all(lat in watch.seen for lat in Reading.all), 60,
                     "every sensor row")
        finally:
            watch.stop()
        for name, digest in digests.items():
            copies = stored_copies(files_dir, name)
            good = [p for p in copies if hashlib.sha256(p.read_bytes()).digest() == digest]
            lost += 0 if good else 1
            duplicated += max(len(copies) - 1, 0)
        lost += sum(1 for lat in Reading.all if lat not in watch.seen)
        duplicated += sum(n - 1 for n in watch.copies.values() if n > 1)
        result["nav_latency_p99_s"] = percentile(nav, 0.99)
        result["nav_latency_p50_s"] = percentile(nav, 0.5)
    finally:
        stats = run.close()
        atexit.unregister(run.close)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
        else:
            log(f"work folder kept: {work}")
    log(f"shaper counts per path (flight->ground, ground->flight): {stats}")
    load = os.getloadavg()
    out = {"bench": "realpath", "goodput_fraction": round(result["goodput_fraction"], 3),
           "bbr_fraction": round(result["bbr_fraction"], 3),
           "cubic_fraction": round(result["cubic_fraction"], 3),
           "two_path_speedup": round(result["two_path_speedup"], 3),
           "failover_s": round(result["failover_s"], 3),
           "nav_latency_p99_s": round(result["nav_latency_p99_s"], 3),
           "lost": lost, "duplicated": duplicated,
           "nav_latency_p50_s": round(result["nav_latency_p50_s"], 3),
           "shaper_fraction": round(result["shaper_fraction"], 3),
           "file_mb": args.file_mb, "load_1min": round(load[0], 2)}
    print(f"goodput {out['goodput_fraction']} of the path; kernel BBR {out['bbr_fraction']}, "
          f"CUBIC {out['cubic_fraction']}; stratolink / BBR = "
          f"{out['goodput_fraction'] / max(out['bbr_fraction'], 1e-9):.2f}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
