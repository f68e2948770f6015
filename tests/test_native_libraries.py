"""Native libraries bundled by the wheels must coexist in one process (GRIB, PostgreSQL, SQLite)."""

from __future__ import annotations

import subprocess
import sys


def test_grib_and_postgres_drivers_load_together_and_exit_cleanly() -> None:
    # Import order matters for clashing bundled libraries: GRIB decoding first, then the
    # PostgreSQL driver, then SQLite, in a fresh interpreter that must exit with status 0.
    code = (
        "import eccodes, cfgrib, psycopg, sqlite3\n"
        "c = sqlite3.connect(':memory:')\n"
        "c.execute('create table t (x integer primary key)')\n"
        "print(c.execute('insert into t default values returning x').fetchone()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
