"""A private, throw-away PostgreSQL server (Debian binaries) for tests and benchmarks.

It lives in a temporary directory, listens only on 127.0.0.1 on a free port (plus a unix
socket in the same directory) and trusts local connections. When run as root the server
runs as the `postgres` system user, as PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from stratolink.errors import UnavailableError


class PostgresUnavailable(UnavailableError):
    """The PostgreSQL server binaries are missing or the server failed to start."""


def find_pg_bin() -> Path:
    """Directory of the newest installed Debian PostgreSQL binaries (initdb, pg_ctl)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
        else 0,
    )
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                "install the Debian package 'postgresql' (scripts/install-system-deps.sh)"
            )
        return Path(found).parent
    return Path(candidates[-1]).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """Start with `start()` (or `with`), connect with `url`, stop with `stop()`."""

    def __init__(self, *, fsync: bool = True, user: str = "stratolink") -> None:
        self.bin = find_pg_bin()
        self.fsync = fsync
        self.user = user
        self.port = 0
        self.root = Path()
        self._run_as: list[str] = []
        self._started = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [*self._run_as, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-800:]}"
            )

    def start(self) -> PrivatePostgres:
        """Create a cluster in a new temporary directory and start the server."""
        self.root = Path(tempfile.mkdtemp(prefix="stratolink-pg-"))
        data, sock_dir = self.root / "data", self.root / "sock"
        sock_dir.mkdir()
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root but 'runuser' is missing")
            self._run_as = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(sock_dir, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )
        self.port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sock_dir} "
            f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200 "
            "-c shared_buffers=128MB"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )
        self._started = True
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise PostgresUnavailable(f"PostgreSQL did not accept connections on port {self.port}")

    def stop(self) -> None:
        """Stop the server and delete its directory.

        A server without fsync is throwaway (its directory is deleted next), so it stops at
        once instead of checkpointing data that nobody will read again.
        """
        if self._started:
            mode = "fast" if self.fsync else "immediate"
            try:
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode,
                    "-w", "stop",
                )
            finally:
                self._started = False
        if self.root != Path() and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create another database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
