"""`bench.e2e --processes K`: K daemon processes in one consumer group, the README's way to scale out.

One `monitor run` process is bound by Python's GIL: poll, decode and the writer's client side share one
interpreter, so on the no-op path it uses barely more than one core while PostgreSQL uses the other. Several
processes in one group split the partitions (use a partition count that K divides) and each brings its own
interpreter. Each worker here is the daemon wired as `monitor run` wires it (`app.build(...).daemon()`), with the
benchmark's no-op classifier; it reports, on exit, when its first poll returned records, when its last batch
was committed, what it stored and its CPU seconds in between. Throughput = all stored / (last commit of any
worker - first records of any worker), the same definition as the in-thread run; a rebalance while the second
worker joins is inside that span, so the figure is conservative.

    python -m bench.scaleout '<json config>'     # one worker (started by bench.e2e, not by hand)
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from bench import cpu
from bench.e2e import CONSUMER_OPTIONS, RunResult, create_db, delete_topic, drop_db, noop_classify, produce
from bench.standins import WatchedSource

POLL_S = 0.25  # how often the parent counts stored articles (its count(*) is in the PostgreSQL CPU figure)


def run_processes(
    args: Any, bootstrap: str, batch: int, processes: int, run_no: int, broker_pid: int | None
) -> RunResult:
    """One no-op run on PostgreSQL with `processes` worker processes (see the module docstring)."""
    from sqlalchemy import create_engine, text

    from consumers.source import ensure_topic

    topic = f"bench-{run_no}-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, args.partitions)
    produce_s = produce(bootstrap, topic, args.messages, seed=7)
    d = create_db("postgresql")
    config = {"bootstrap": bootstrap, "topic": topic, "group": f"bench-{uuid.uuid4().hex[:8]}", "url": d.url,
              "batch": batch, "consumer_options": {**CONSUMER_OPTIONS, **args.consumer_options}}
    engine = create_engine(d.url)
    workers: list[subprocess.Popen[str]] = []
    try:
        pg_before = cpu.cpu_seconds(broker_pid)
        workers = [
            subprocess.Popen([sys.executable, "-m", "bench.scaleout", json.dumps(config)], stdout=subprocess.PIPE,
                             text=True)
            for _ in range(processes)
        ]
        deadline = time.monotonic() + args.timeout
        with engine.connect() as conn:
            while conn.execute(text("SELECT count(*) FROM articles")).scalar_one() < args.messages:
                conn.commit()
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker exited early")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not all {args.messages} stored in {args.timeout:.0f}s")
                time.sleep(POLL_S)
        used = cpu.delta(pg_before, cpu.cpu_seconds(broker_pid))
        reports = []
        for w in workers:
            w.send_signal(signal.SIGTERM)
            out, _ = w.communicate(timeout=30)
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        engine.dispose()
        drop_db(d)
        delete_topic(bootstrap, topic)
    stored = sum(r["stored"] for r in reports)
    seconds = max(r["last"] for r in reports) - min(r["first"] for r in reports)
    # This process only waited and counted: the workers' own CPU is the monitor's.
    used["monitor"] = sum(r["cpu"] for r in reports)
    return RunResult("noop", "postgresql", batch, args.messages, stored, seconds, stored / seconds,
                     sum(r["batches"] for r in reports), {}, produce_aps=args.messages / produce_s, cpu=used,
                     processes=processes)


def worker(config: dict[str, Any]) -> None:
    from monitor import app
    from monitor.config import load_settings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = load_settings(database_url=config["url"], kafka_bootstrap_servers=config["bootstrap"],
                             kafka_topic=config["topic"], kafka_group_id=config["group"],
                             kafka_consumer_options=config["consumer_options"], batch_max_size=config["batch"])
    first: list[tuple[float, float]] = []  # (time.time(), CPU seconds) when a poll first returned records
    connect = app.kafka_connect(settings)
    product = app.build(settings, classify=noop_classify())
    daemon = product.daemon(connect=lambda: WatchedSource(
        connect(), lambda: first.append((time.time(), time.process_time()))))
    daemon.handle_signals()
    daemon.run()
    at, cpu_at = first[0] if first else (time.time(), time.process_time())
    print(json.dumps({"stored": daemon.stats.stored, "batches": daemon.stats.batches, "first": at,
                      "last": daemon.stats.last_batch_at or at, "cpu": time.process_time() - cpu_at}))


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]))
