"""The daemon's ops endpoints alone, as a process a test can attack: `python -m tests.ops_harness URL`.

Serves /healthz and /metrics exactly as `monitor run` does (monitor.http.OpsServer + daemon_health), with a
consumer stand-in that holds one partition, and the health's database probe on a fresh PostgreSQL connection
every time (NullPool): a probe that answers proves the process can still open new database connections,
which is what an exhausted file limit took from the daemon. Prints `port N` when it listens; stops on stdin EOF.

Options: --rlimit-nofile N (the process's file limit, set before anything opens), --health-delay S (a slow
answer, for clients that leave mid-response), --read-timeout S.
"""

from __future__ import annotations

import argparse
import inspect
import resource
import sys
import threading
import time
from types import SimpleNamespace


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("database_url")
    p.add_argument("--rlimit-nofile", type=int)
    p.add_argument("--health-delay", type=float, default=0.0)
    p.add_argument("--read-timeout", type=float, default=5.0)
    args = p.parse_args()
    if args.rlimit_nofile:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.rlimit_nofile, hard))

    from sqlalchemy.pool import NullPool

    from monitor.http import OpsServer, daemon_health
    from monitor.logs import setup_logging
    from storage.db import make_engine, ping

    setup_logging("INFO", "json")
    engine = make_engine(args.database_url, poolclass=NullPool)
    daemon = SimpleNamespace(
        source=SimpleNamespace(assignment=lambda: [("news", 0)]), stopping=threading.Event(),
        stats=SimpleNamespace(last_batch_at=None, stored=0),
    )

    def probe() -> None:
        time.sleep(args.health_delay)
        ping(engine)

    # Only the options this version of the server knows: the harness also runs against the unbounded server of
    # before issue 13, to show that the tests catch what the bounds fix.
    health_options = {"deadline_s": 1.5 + args.health_delay} if _accepts(daemon_health, "deadline_s") else {}
    server_options = {"read_timeout_s": args.read_timeout} if _accepts(OpsServer, "read_timeout_s") else {}
    health = daemon_health(daemon, probe, lambda: {"state": "idle"}, **health_options)
    server = OpsServer("127.0.0.1", 0, health, **server_options).start()
    print(f"port {server.port}", flush=True)
    sys.stdin.read()
    server.stop()


def _accepts(fn: object, name: str) -> bool:
    return name in inspect.signature(fn).parameters  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
