"""Kafka-and-database helpers shared by the daemon-as-a-process tests (test_run_process, test_faults):
a generated stream with the demo's broken messages in it, and what got stored and committed of it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from consumers.source import KafkaSink, KafkaSource
from newsgen.headlines import INVALID_SAMPLES, generate
from tests.e2e.support import FAST_GROUP_JSON, Daemon

PARTITIONS = 3


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:  # a failed test must not leave a daemon running
        d.kill()


def messages(tag: str, n: int, seed: int = 7) -> list[tuple[bytes, bytes | None]]:
    """(value, key): n generated articles with unique ids (keys spread them over the partitions), plus the
    demo's broken messages sprinkled in."""
    out: list[tuple[bytes, bytes | None]] = [
        (json.dumps({**m, "id": f"{tag}-{i}"}).encode(), f"{tag}-{i}".encode())
        for i, m in enumerate(generate(n, seed=seed))
    ]
    for i, bad in enumerate(INVALID_SAMPLES):
        out.insert(1 + i * (n // len(INVALID_SAMPLES)), (bad, None))
    return out


def produce(bootstrap: str, topic: str, stream: list[tuple[bytes, bytes | None]]) -> None:
    with KafkaSink(bootstrap, topic) as sink:
        for value, key in stream:
            sink.send(value, key=key)
        sink.flush()


def stored_offsets(engine: Engine, topic: str) -> dict[int, list[int]]:
    """Per partition, the offsets stored for topic (articles and dead letters), sorted, repeats kept."""
    out: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    with engine.connect() as c:
        rows = c.execute(text(
            "select kafka_partition, kafka_offset from articles where kafka_topic = :t "
            "union all select kafka_partition, kafka_offset from dead_letters where kafka_topic = :t"), {"t": topic})
        for partition, offset in rows:
            out[partition].append(offset)
    return {p: sorted(v) for p, v in out.items()}


def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    with KafkaSource(bootstrap, topic, group, json.loads(FAST_GROUP_JSON)) as probe:
        return {p: probe.committed(topic, p) or 0 for p in range(PARTITIONS)}
