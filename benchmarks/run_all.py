"""Run every benchmark in this folder, one after another, and collect their last JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    results = []
    failed = False
    for script in sorted(here.glob("*_bench.py")):
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], text=True, stdout=subprocess.PIPE)
        print(proc.stdout, end="", flush=True)
        lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(f"{script.name} failed (exit {proc.returncode})", file=sys.stderr)
            failed = True
            continue
        results.append(json.loads(lines[-1]))
    print(json.dumps({"benchmarks": results}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
