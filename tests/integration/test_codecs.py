"""Messages from a producer this project did not write (issue 13, item 9): librdkafka, through confluent-kafka,
into the Tansu broker with every compression.type, headers, binary keys and tombstones, read by the daemon
(KafkaSource -> decode -> tiny model -> PostgreSQL) in this process.

The record batches kafka-python actually decompressed are recorded, so the test also proves that Tansu stores and
serves each codec's batches as the producer compressed them (rather than recompressing or refusing them).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka.record.default_records import DefaultRecordBatch
from sqlalchemy import Engine, text

from consumers.source import KafkaSource, ensure_topic
from monitor import app
from monitor.config import Settings
from monitor.daemon import Daemon
from newsgen.headlines import generate

pytestmark = pytest.mark.integration
FAST_GROUP = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
PARTITIONS = 2
# Kafka's attribute bits for each compression.type
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.fixture
def seen_codecs(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The compression type of every record batch kafka-python reads in this process (observed, not changed)."""
    seen: set[int] = set()
    original = DefaultRecordBatch._maybe_uncompress

    def observed(self: DefaultRecordBatch) -> Any:
        seen.add(self.compression_type)
        return original(self)

    monkeypatch.setattr(DefaultRecordBatch, "_maybe_uncompress", observed)
    return seen


def _stream(tag: str) -> tuple[list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]], int]:
    """(value, key, headers) of a mixed stream, and how many of them are valid articles."""
    out: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []
    valid = 0
    for i, m in enumerate(generate(300, seed=11)):
        body = m.get("body") or ""
        if i % 100 == 7:  # a few big, compressible ones: a batch far larger than its compressed form
            body = (body + " ") * (600_000 // max(1, len(body) + 1))
        value = json.dumps({**m, "id": f"{tag}-{i}", "body": body}).encode()
        key = None if i % 5 == 0 else bytes([0xFF, 0xFE, i % 256, 0x00, 0x80])  # not UTF-8
        headers = [("trace", os.urandom(8)), ("empty", None), ("ünïcode-kéy", "värde".encode())]
        out.append((value, key, headers if i % 3 else []))
        valid += 1
        if i % 30 == 0:  # a tombstone (delete marker) for that key, and a value that is no article
            out.append((None, key or b"\xff", [("deleted", b"1")]))
            out.append((b"\xff\xfe not json", os.urandom(4), []))
    return out, valid


def _produce(bootstrap: str, topic: str, codec: str, stream: list[Any]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20,
                         "message.max.bytes": 2_000_000, "enable.idempotence": False})
    failures: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for value, key, headers in stream:
        producer.produce(topic, value=value, key=key, headers=headers, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not failures, failures[:3]


class Running:
    """The daemon in a thread: run() returning or raising while the test waits means the stream stopped."""

    def __init__(self, settings: Settings) -> None:
        self.daemon: Daemon = app.build(settings).daemon()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.daemon.run()
        except BaseException as e:  # reported by the test, not lost in the thread
            self.error = e

    def stop(self) -> None:
        self.daemon.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "daemon did not stop"


@pytest.fixture
def running(kafka_broker, pg_url: str, tiny_checkpoint: Path) -> Iterator[Callable[[str], Running]]:
    started: list[Running] = []

    def start(topic: str) -> Running:
        settings = Settings(database_url=pg_url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                            kafka_topic=topic, kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP,
                            model_path=tiny_checkpoint, device="cpu", batch_max_size=256, batch_max_wait_ms=100,
                            max_invalid_ratio=1)
        started.append(Running(settings))
        return started[-1]

    yield start
    for r in started:
        if r.thread.is_alive():
            r.stop()


def _counts(engine: Engine, topic: str) -> tuple[int, int]:
    with engine.connect() as c:
        return (c.execute(text("select count(*) from articles where kafka_topic = :t"), {"t": topic}).scalar_one(),
                c.execute(text("select count(*) from dead_letters where kafka_topic = :t"), {"t": topic}).scalar_one())


def _wait(done: Callable[[], bool], run: Running, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.thread.is_alive(), f"the daemon stopped: {run.error!r}"
        if done():
            return
        time.sleep(0.25)
    raise AssertionError("timed out waiting for the stream to be stored")


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_codec_from_librdkafka_is_read(
    codec: str, kafka_broker, pg_engine: Engine, running: Callable[[str], Running], seen_codecs: set[int]
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"codec-{codec}-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=PARTITIONS)
    stream, valid = _stream(topic)
    _produce(bootstrap, topic, codec, stream)
    invalid = len(stream) - valid

    run = running(topic)
    _wait(lambda: _counts(pg_engine, topic) == (valid, invalid), run)
    run.stop()
    assert run.error is None

    assert seen_codecs == {CODECS[codec]}, seen_codecs  # served as produced: Tansu kept the producer's codec
    with pg_engine.connect() as c:
        ids = set(c.execute(text("select external_id from articles where kafka_topic = :t"), {"t": topic}).scalars())
        errors = c.execute(text("select error, raw_size from dead_letters where kafka_topic = :t"), {"t": topic}).all()
        big = c.execute(text("select max(length(body)) from articles where kafka_topic = :t"), {"t": topic}).scalar()
    assert ids == {f"{topic}-{i}" for i in range(valid)}
    tombstones = [e for e in errors if e.error.startswith("tombstone: null value")]
    assert len(tombstones) == sum(1 for v, _, _ in stream if v is None) and all(e.raw_size == 0 for e in tombstones)
    assert sum(e.error.startswith("not UTF-8") for e in errors) == len(errors) - len(tombstones)
    assert big > 500_000  # the big messages came through whole
    with KafkaSource(bootstrap, topic, f"group-{topic}", FAST_GROUP) as probe:  # everything committed
        assert sum(probe.committed(topic, p) or 0 for p in range(PARTITIONS)) == len(stream)


def test_producers_with_different_codecs_share_a_topic(
    kafka_broker, pg_engine: Engine, running: Callable[[str], Running], seen_codecs: set[int]
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"codec-mixed-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=PARTITIONS)
    run = running(topic)
    total = valid = 0
    for codec in CODECS:  # one after the other, while the daemon reads
        stream, n = _stream(f"{topic}-{codec}")
        _produce(bootstrap, topic, codec, stream)
        total, valid = total + len(stream), valid + n
    _wait(lambda: _counts(pg_engine, topic) == (valid, total - valid), run)
    run.stop()
    assert run.error is None
    assert seen_codecs == set(CODECS.values())
