"""Hostile input through `monitor run` as a real process (Tansu -> tiny model -> PostgreSQL).

The decoder's own table of 100+ bad inputs (tests/unit/test_decode.py BAD) plus 10 MB messages, mixed into
good news and into valid-but-nasty messages (SQL and HTML injection, odd Unicode, boundary dates, a body just
under the size cap). Nothing may crash or stall the daemon; the bad ones become capped dead letters; the
nasty-but-valid ones come back from PostgreSQL byte for byte. And a topic that turns broken trips the circuit
breaker: the daemon stops with exit 3 without storing or committing the batch that tripped it.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from consumers.broker import EmbeddedBroker
from consumers.decode import MAX_TICKERS
from consumers.source import KafkaSink, KafkaSource, ensure_topic
from monitor.config import Settings
from newsgen.headlines import generate
from tests.e2e.support import FAST_GROUP_JSON, Daemon, monitor_env, wait_for
from tests.unit.test_decode import BAD

pytestmark = pytest.mark.e2e
TEN_MB = 10 * 1024 * 1024
CAP = Settings().dead_letter_max_bytes
MAX_MESSAGE = Settings().max_message_bytes

SQL_INJECTION = [
    "Robert'); DROP TABLE articles;--",
    "' OR '1'='1' --",
    "1; DELETE FROM dead_letters; --",
    "'; TRUNCATE classifications CASCADE; --",
    "$$; DROP SCHEMA public CASCADE; $$",
    "'; COPY articles TO PROGRAM 'touch /tmp/pwned'; --",
    "%s %(title)s {0} :title ? $1",
    "\\'; SELECT pg_sleep(30); --",
    "E'\\x27' || chr(39) || 'x'",
    "/* */ UNION SELECT usename, passwd FROM pg_shadow --",
    "'; ALTER ROLE monitor_reader SUPERUSER; --",
]
HTML_INJECTION = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "\"><svg/onload=alert(document.cookie)>",
    "&lt;b&gt;escaped&lt;/b&gt; &amp; &#x27;",
    "<!--#exec cmd=\"ls\"--> <iframe src=javascript:alert(1)>",
    "<!channel> *Slack* _mrkdwn_ `code` <https://evil.example|click here>",
    "{{7*7}} ${7*7} #{7*7} <%= 7*7 %>",
]
ODD_TEXT = [
    "Right-to-left \u202etxt.exe override",
    "Zero\u200bwidth\u200djoiner\ufeffBOM inside",
    "Emoji 📉💥, CJK 株価急落, Arabic انهيار",
    "Combining a\u0301\u0302\u0303 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Backslashes C:\\path\\to and quotes \" ' `",
    "Line one\nline two\ttabbed",
    "Long" + " headline" * 2000,  # titles are stripped: no trailing space here
]


def _valid_hostile(tag: str) -> list[dict[str, Any]]:
    """Valid messages with nasty content; each must be stored exactly as sent."""
    base = {"published_at": "2024-05-01T12:00:00Z", "source": "hostile"}
    out: list[dict[str, Any]] = [{**base, "title": t} for t in SQL_INJECTION + HTML_INJECTION + ODD_TEXT]
    out += [
        {**base, "title": "Earliest date", "published_at": "1970-01-01T00:00:00Z"},
        {**base, "title": "Latest date", "published_at": "2100-12-31T23:59:59Z"},
        {**base, "title": "Leap second-ish", "published_at": "2024-02-29T23:59:59.999999+14:00"},
        {**base, "title": "Tickers at the cap", "tickers": [f"T{i}" for i in range(MAX_TICKERS)]},
        {**base, "title": "Nasty url and source", "url": "javascript:alert(1)//'; DROP TABLE x;--",
         "source": "<b>wire</b>'; --"},
        {**base, "title": "Nasty unknown fields", "'; DROP TABLE articles; --": "<script>x</script>",
         "deep": json.loads("[" * 60 + "]" * 60), "n": 10**30, "f": -1.5e-300},
        {**base, "title": "Body just under the size cap", "body": "ab\u00e9 " * ((MAX_MESSAGE - 500) // 5)},
    ]
    for i, m in enumerate(out):
        m["id"] = f"{tag}-hostile-{i}"
    return out


def _invalid(tag: str) -> list[bytes]:
    """The decoder table's bad inputs, plus what only a broker can carry: 10 MB messages."""
    big_body = json.dumps({"title": "10 MB body", "published_at": "2024-05-01T12:00:00Z", "id": f"{tag}-big",
                           "body": "x" * TEN_MB}).encode()
    return [raw for _, raw, _ in BAD if raw] + [big_body, os.urandom(TEN_MB)]


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    with KafkaSink(bootstrap, topic, {"max_request_size": 16 * 1024 * 1024}) as sink:
        for v in values:
            sink.send(v)
        sink.flush()


def _env(bootstrap: str, pg_url: str, topic: str, model: Path, **more: str) -> dict[str, str]:
    settings: dict[str, str | Path] = {
        "database_url": pg_url, "kafka_bootstrap_servers": bootstrap, "kafka_topic": topic,
        "kafka_group_id": f"group-{topic}", "kafka_consumer_options": FAST_GROUP_JSON, "model_path": model,
        "batch_max_size": "100", "batch_max_wait_ms": "100",
    }
    return monitor_env(**{**settings, **more})


def _counts(engine: Engine, topic: str) -> tuple[int, int]:
    with engine.connect() as c:
        row = c.execute(text("select (select count(*) from articles where kafka_topic = :t), "
                             "(select count(*) from dead_letters where kafka_topic = :t)"), {"t": topic}).one()
    return int(row[0]), int(row[1])


def test_hostile_corpus_mixed_into_good_news(
    kafka_broker: EmbeddedBroker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    topic = f"hostile-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap_servers
    ensure_topic(bootstrap, topic, partitions=3)
    good = [{**m, "id": f"{topic}-{i}"} for i, m in enumerate(generate(600, seed=11))]
    nasty = _valid_hostile(topic)
    invalid = _invalid(topic)
    assert len(invalid) + len(nasty) >= 100 + 30
    valid_values = [json.dumps(m, ensure_ascii=i % 2 == 0).encode() for i, m in enumerate(good + nasty)]
    # spread the bad ones evenly: a realistic mix stays far below the circuit breaker's limit
    stream: list[bytes] = []
    k = 0
    for i, value in enumerate(valid_values):
        stream.append(value)
        while k < len(invalid) and k * len(valid_values) <= i * len(invalid):
            stream.append(invalid[k])
            k += 1
    stream += invalid[k:]
    assert sorted(stream) == sorted(valid_values + invalid)
    _produce(bootstrap, topic, stream)

    d = Daemon(_env(bootstrap, pg_url, topic, tiny_checkpoint), tmp_path / "run.log")
    daemons.append(d)
    wait_for(lambda: sum(_counts(pg_engine, topic)) >= len(stream) or d.proc.poll() is not None, 90,
             "every message stored or dead-lettered")  # no stall
    d.stop(signal.SIGTERM)  # no crash: still running, clean exit 0, no traceback
    assert _counts(pg_engine, topic) == (len(valid_values), len(invalid))

    with pg_engine.connect() as c:
        rows = {r.external_id: r for r in c.execute(text(
            "select external_id, title, body, url, source, extra, tickers, published_at from articles "
            "where kafka_topic = :t and source in ('hostile', '<b>wire</b>''; --')"), {"t": topic})}
        dead = c.execute(text("select raw, raw_size, error from dead_letters where kafka_topic = :t"),
                         {"t": topic}).all()
        tables = {r[0] for r in c.execute(text("select tablename from pg_tables where schemaname = 'public'"))}
        superuser = c.execute(text("select rolsuper from pg_roles where rolname = 'monitor_reader'")).scalar()
    assert len(rows) == len(nasty)
    for m in nasty:  # stored verbatim: the injection strings are data, byte for byte
        row = rows[m["id"]]
        assert row.title == m["title"] and row.title.encode() == m["title"].encode()
        assert row.body == m.get("body") and row.url == m.get("url") and row.source == m["source"]
        known = {"id", "title", "body", "url", "source", "published_at", "tickers"}
        assert row.extra == {k: v for k, v in m.items() if k not in known}
        assert row.published_at == datetime.fromisoformat(m["published_at"].replace("Z", "+00:00")).astimezone(UTC)
        assert row.tickers == m.get("tickers", [])
    # and never executed: every table is there and holds what it should
    assert {"articles", "classifications", "dead_letters", "article_tickers"} <= tables
    assert superuser is False
    # dead letters: one per bad message, each capped, with the original size recorded
    originals = {raw[:CAP]: len(raw) for raw in invalid}
    assert len(dead) == len(invalid)
    assert all(len(raw) <= CAP for raw, _, _ in dead)
    assert sorted((bytes(raw), size) for raw, size, _ in dead) == sorted(originals.items())
    assert sum(1 for _, size, error in dead if size >= TEN_MB and error.startswith("too large")) == 2
    print(f"\nhostile: {len(stream)} messages ({len(invalid)} invalid, {len(nasty)} valid but nasty): "
          f"{len(valid_values)} stored verbatim, {len(dead)} dead letters of at most {max(len(r) for r, _, _ in dead)} "
          f"bytes, lost 0, duplicated 0")


# ------------------------------------------------------------------------------------------ circuit breaker


def test_broken_topic_trips_the_circuit_breaker_without_committing(
    kafka_broker: EmbeddedBroker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    topic = f"broken-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap_servers
    ensure_topic(bootstrap, topic, partitions=1)
    good = [json.dumps({**m, "id": f"{topic}-{i}"}).encode() for i, m in enumerate(generate(300, seed=3))]
    # the producer shipped a schema change: every message from here on lacks title and published_at
    broken = [json.dumps({"headline": f"story {i}", "time": 1714564800 + i}).encode() for i in range(400)]
    _produce(bootstrap, topic, good + broken)
    env = _env(bootstrap, pg_url, topic, tiny_checkpoint)  # the default limit: more than half of 1000

    d = Daemon(env, tmp_path / "tripped.log")
    daemons.append(d)
    try:
        rc = d.proc.wait(timeout=90)
    except Exception:
        raise AssertionError(f"the breaker did not stop the daemon:\n{d.stderr()[-3000:]}") from None
    log = d.stderr()
    assert rc == 3, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "circuit breaker" in errors[0] and "MONITOR_MAX_INVALID_RATIO" in errors[0], errors

    articles, dead_letters = _counts(pg_engine, topic)
    assert articles == 300 and 0 < dead_letters < 400  # stopped part-way, not after dead-lettering the topic
    with KafkaSource(bootstrap, topic, f"group-{topic}", json.loads(FAST_GROUP_JSON)) as probe:
        committed = probe.committed(topic, 0) or 0
    assert committed == articles + dead_letters  # the tripping batch was neither stored nor committed
    # the ratio over what it saw really was past the limit when it stopped
    assert dead_letters > 0.4 * committed
    print(f"\nbreaker: stopped (exit 3) after {articles} articles and {dead_letters} of 400 broken messages; "
          f"committed {committed} = stored")

    # an operator who decides to dead-letter them after all raises the limit: the rest comes through
    d2 = Daemon({**env, "MONITOR_MAX_INVALID_RATIO": "1"}, tmp_path / "limit-raised.log")
    daemons.append(d2)
    wait_for(lambda: sum(_counts(pg_engine, topic)) >= 700 or d2.proc.poll() is not None, 60, "the rest")
    d2.stop(signal.SIGTERM)
    assert _counts(pg_engine, topic) == (300, 400)
