"""KafkaSource / KafkaSink / ensure_topic against the real Kafka-protocol broker (Tansu).

Every test uses its own topic and group on the session broker; every wait is bounded by a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from consumers.broker import EmbeddedBroker
from consumers.source import (
    BrokerUnavailable,
    KafkaSink,
    KafkaSource,
    RawMessage,
    ensure_topic,
)
from tests.kafka_fixtures import TEST_CONSUMER_OPTIONS, unique_name

pytestmark = pytest.mark.integration

PARTITIONS = 3
N = 300
WAIT_S = 40.0  # each test stays well under a minute even on a busy 2-core machine


def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _produce(bootstrap: str, topic: str, n: int, start: int = 0) -> set[bytes]:
    values = {f"msg-{i}".encode() for i in range(start, start + n)}
    with KafkaSink(bootstrap, topic) as sink:
        for i in range(start, start + n):
            sink.send(f"msg-{i}".encode(), key=f"key-{i}".encode())
        sink.flush()
    return values


def _drain(source: KafkaSource, expected: int, timeout_s: float = WAIT_S) -> list[RawMessage]:
    got: list[RawMessage] = []

    def more() -> bool:
        got.extend(source.poll(max_records=100, timeout_ms=500))
        return len(got) >= expected

    _until(more, timeout_s, f"{expected} messages (got {len(got)})")
    return got


def _await_assignment(source: KafkaSource) -> list[RawMessage]:
    """Poll until the source owns every partition; returns whatever it received meanwhile."""
    seen: list[RawMessage] = []

    def assigned() -> bool:
        seen.extend(source.poll(max_records=100, timeout_ms=200))
        return len(source.assignment()) == PARTITIONS

    _until(assigned, WAIT_S, "the group to assign every partition")
    return seen


def _next_offsets(messages: list[RawMessage]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for m in messages:
        out[(m.topic, m.partition)] = max(out.get((m.topic, m.partition), 0), m.offset + 1)
    return out


@pytest.fixture
def topic(kafka_broker: EmbeddedBroker) -> str:
    name = unique_name("news")
    ensure_topic(kafka_broker.bootstrap_servers, name, PARTITIONS)
    return name


@pytest.fixture
def sources(kafka_broker: EmbeddedBroker) -> Iterator[Callable[[str, str], KafkaSource]]:
    """A factory whose consumers are all closed at teardown, even when an assertion fails."""
    made: list[KafkaSource] = []

    def make(topic: str, group: str) -> KafkaSource:
        source = KafkaSource(kafka_broker.bootstrap_servers, topic, group, dict(TEST_CONSUMER_OPTIONS))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def test_consume_all_commit_and_resume_from_committed(
    kafka_broker: EmbeddedBroker, topic: str, sources: Callable[[str, str], KafkaSource]
) -> None:
    sent = _produce(kafka_broker.bootstrap_servers, topic, N)
    group = unique_name("group")

    first = sources(topic, group)
    got = _drain(first, N)
    assert len(got) == N, "no duplicates within one consumer"
    assert {m.value for m in got} == sent
    assert {m.topic for m in got} == {topic}
    assert first.assignment() == [(topic, p) for p in range(PARTITIONS)]
    for p in range(PARTITIONS):
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == list(range(len(offsets))), f"partition {p}: in order, no gaps"
    assert all(m.key is not None and m.key.startswith(b"key-") for m in got)
    assert all(m.timestamp_ms > 0 for m in got)
    # Keys spread the messages over every partition.
    assert {m.partition for m in got} == set(range(PARTITIONS))
    assert first.lag() == {(topic, p): 0 for p in range(PARTITIONS)}

    commit = _next_offsets(got)
    first.commit(commit)
    for (t, p), offset in commit.items():
        assert first.committed(t, p) == offset
    first.close()
    first.close()  # idempotent

    # A member that never polled (never joined) can still read the group's committed offsets.
    with KafkaSource(kafka_broker.bootstrap_servers, topic, group, dict(TEST_CONSUMER_OPTIONS)) as probe:
        assert {(topic, p): probe.committed(topic, p) for p in range(PARTITIONS)} == commit

    # Same group: starts from the committed offsets, so nothing old comes back...
    second = sources(topic, group)
    assert _await_assignment(second) == []
    assert second.poll(max_records=100, timeout_ms=1000) == []
    # ...and what is produced now does.
    new = _produce(kafka_broker.bootstrap_servers, topic, 5, start=N)
    assert {m.value for m in _drain(second, 5)} == new


def test_uncommitted_messages_are_redelivered(
    kafka_broker: EmbeddedBroker, topic: str, sources: Callable[[str, str], KafkaSource]
) -> None:
    sent = _produce(kafka_broker.bootstrap_servers, topic, 30)
    group = unique_name("group")
    first = sources(topic, group)
    got = _drain(first, 30)
    # Commit only partition 0: the others come back to the next member of the group.
    p0 = {k: v for k, v in _next_offsets(got).items() if k[1] == 0}
    first.commit(p0)
    first.close()

    second = sources(topic, group)
    again = _drain(second, 30 - p0[(topic, 0)])
    assert {m.value for m in again} == {m.value for m in got if m.partition != 0}
    assert {m.value for m in again} < sent


def test_two_consumers_split_the_partitions(
    kafka_broker: EmbeddedBroker, topic: str, sources: Callable[[str, str], KafkaSource]
) -> None:
    sent = _produce(kafka_broker.bootstrap_servers, topic, 60)
    group = unique_name("group")
    members = [sources(topic, group), sources(topic, group)]
    received: list[bytes] = []
    assigned: list[set[tuple[str, int]]] = [set(), set()]
    stop = threading.Event()
    lock = threading.Lock()

    # One thread per member, as in production (one process each). Polling both from one thread cannot
    # work: a member's poll blocks in JoinGroup until every member re-joins, and the other member can only
    # re-join from that same, blocked thread, so the group ping-pongs until the rebalance timeout.
    def consume(index: int) -> None:
        source = members[index]
        while not stop.is_set():
            batch = source.poll(max_records=100, timeout_ms=200)
            with lock:
                received.extend(m.value for m in batch)
                assigned[index] = set(source.assignment())

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        def split_and_complete() -> bool:
            with lock:
                a, b = assigned
                return bool(a) and bool(b) and not (a & b) and len(a | b) == PARTITIONS and set(received) >= sent

        _until(split_and_complete, WAIT_S, "both members holding disjoint partitions and every message seen")
        with lock:
            assert assigned[0] | assigned[1] == {(topic, p) for p in range(PARTITIONS)}
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_pause_all_stops_fetching_until_resume(
    kafka_broker: EmbeddedBroker, topic: str, sources: Callable[[str, str], KafkaSource]
) -> None:
    source = sources(topic, unique_name("group"))
    assert _await_assignment(source) == []
    source.pause_all()
    assert source.paused() == [(topic, p) for p in range(PARTITIONS)]
    _produce(kafka_broker.bootstrap_servers, topic, 10)
    assert source.poll(max_records=100, timeout_ms=1500) == []
    source.resume_all()
    assert source.paused() == []
    assert len(_drain(source, 10)) == 10


def test_ensure_topic_is_idempotent(kafka_broker: EmbeddedBroker) -> None:
    name = unique_name("topic")
    ensure_topic(kafka_broker.bootstrap_servers, name, 2)
    ensure_topic(kafka_broker.bootstrap_servers, name, 2)


def test_unknown_option_is_a_clear_error(kafka_broker: EmbeddedBroker) -> None:
    with pytest.raises(ValueError, match="max_pol_interval_ms"):
        KafkaSource(kafka_broker.bootstrap_servers, "t", "g", {"max_pol_interval_ms": 1})


def test_consumer_options_are_accepted_by_the_sink(kafka_broker: EmbeddedBroker, topic: str) -> None:
    # One options dict serves both: consumer-only keys are dropped for the producer.
    with KafkaSink(kafka_broker.bootstrap_servers, topic, dict(TEST_CONSUMER_OPTIONS)) as sink:
        sink.send(b"x")
        sink.flush()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_broker_raises_broker_unavailable() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    fast = {"bootstrap_timeout_ms": 1000}
    with pytest.raises(BrokerUnavailable):
        KafkaSource(address, "t", "g", fast)
    with pytest.raises(BrokerUnavailable):
        KafkaSink(address, "t", fast)
    with pytest.raises(BrokerUnavailable):
        ensure_topic(address, "t", 1, options=fast)


def test_embedded_broker_restarts_on_the_same_port() -> None:
    with EmbeddedBroker() as broker:
        port = broker.port
        ensure_topic(broker.bootstrap_servers, "before", 1)
        broker.stop()
        assert not broker.running
        broker.start()
        assert broker.running and broker.port == port
        ensure_topic(broker.bootstrap_servers, "after", 1)
    assert not broker.running


def test_outage_surfaces_as_broker_unavailable() -> None:
    with EmbeddedBroker() as broker:
        ensure_topic(broker.bootstrap_servers, "news", 1)
        _produce(broker.bootstrap_servers, "news", 1)
        source = KafkaSource(broker.bootstrap_servers, "news", "g", dict(TEST_CONSUMER_OPTIONS))
        try:
            got = _drain(source, 1)
            broker.stop()
            for _ in range(3):  # the client reconnects by itself: a poll may fail, or just return nothing
                try:
                    assert source.poll(max_records=10, timeout_ms=300) == []
                except BrokerUnavailable:
                    pass
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                source.commit(_next_offsets(got), timeout_ms=2000)
            assert time.monotonic() - started < 10
            assert all(v >= 0 for v in source.lag().values())  # best effort: never raises
        finally:
            source.close()
