"""Log-in timing: does the answer's time tell whether an operator name exists?

Times 50 log-ins with an unknown name and 50 with a known name and a wrong password against
the real API (FastAPI app in-process, SQLite store), interleaved, and reports the medians and
their difference (target: under 5 ms). Ends with one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stratolink.ground.api import create_app  # noqa: E402
from stratolink.ground.auth import register_operator  # noqa: E402
from stratolink.ground.store import MissionStore  # noqa: E402

ROUNDS = 50


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = MissionStore(f"sqlite:///{Path(folder) / 'login.db'}")
        register_operator(store, "alice", "correct horse battery", time.time())
        # Back-off would lock the names after 5 failures: give each attempt its own name
        # slot by clearing the counters between attempts (the lock is measured elsewhere).
        client = TestClient(create_app(store, response_cache=False))
        timings: dict[str, list[float]] = {"unknown_user": [], "wrong_password": []}
        for i in range(ROUNDS):
            for kind, name in (("unknown_user", f"nobody-{i}"), ("wrong_password", "alice")):
                store.clear_login_failures(name)
                start = time.perf_counter()
                reply = client.post("/api/auth/login", json={"username": name,
                                                              "password": "wrong password"})
                timings[kind].append((time.perf_counter() - start) * 1000.0)
                assert reply.status_code == 401, reply.text
        client.close()
        store.close()
    unknown = statistics.median(timings["unknown_user"])
    wrong = statistics.median(timings["wrong_password"])
    print(f"unknown user   median {unknown:7.2f} ms")
    print(f"wrong password median {wrong:7.2f} ms")
    print(f"difference            {abs(unknown - wrong):7.2f} ms (target < 5 ms)")
    print(json.dumps({"bench": "login", "rounds": ROUNDS, "unknown_user_ms_p50": round(unknown, 2),
                      "wrong_password_ms_p50": round(wrong, 2),
                      "difference_ms": round(abs(unknown - wrong), 2)}))


if __name__ == "__main__":
    main()
