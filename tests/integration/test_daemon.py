"""The daemon end to end on real parts: Tansu broker -> KafkaSource -> tiny model -> PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from consumers.source import BrokerUnavailable, KafkaSink, KafkaSource, ensure_topic
from monitor import app
from monitor.config import Settings
from monitor.daemon import Daemon
from newsgen.headlines import generate

pytestmark = pytest.mark.integration
FAST_GROUP = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    # room for the hostile 8 MB message of the bad-input table
    with KafkaSink(bootstrap, topic, {"max_request_size": 16 * 1024 * 1024}) as sink:
        for v in values:
            sink.send(v)
        sink.flush()


def news(n: int, tag: str) -> list[bytes]:
    return [json.dumps({**m, "id": f"{tag}-{i}"}).encode() for i, m in enumerate(generate(n, seed=hash(tag) % 1000))]


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"news-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker.bootstrap_servers, name, partitions=3)
    return name


@pytest.fixture
def settings_for(kafka_broker, pg_url: str, tiny_checkpoint: Path) -> Callable[[str], Settings]:
    def make(topic: str) -> Settings:
        return Settings(
            database_url=pg_url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers, kafka_topic=topic,
            kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP, model_path=tiny_checkpoint,
            device="cpu", batch_max_size=256, batch_max_wait_ms=100,
        )
    return make


class Running:
    """A daemon in a thread; stop() joins it."""

    def __init__(self, settings: Settings) -> None:
        self.daemon: Daemon = app.build(settings).daemon()
        self.thread = threading.Thread(target=self.daemon.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.daemon.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "daemon did not stop"


@pytest.fixture
def start(settings_for) -> Iterator[Callable[[str], Running]]:
    running: list[Running] = []

    def go(topic: str) -> Running:
        running.append(Running(settings_for(topic)))
        return running[-1]

    yield go
    for r in running:
        if r.thread.is_alive():
            r.stop()


def stored(pg_engine, topic: str) -> tuple[int, int]:
    """(rows, distinct keys) of articles that came from this topic."""
    with pg_engine.connect() as c:
        row = c.execute(text("select count(*), count(distinct key) from articles where kafka_topic = :t"),
                        {"t": topic}).one()
        return int(row[0]), int(row[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("timed out waiting")


def committed_total(bootstrap: str, topic: str, group: str) -> int:
    with KafkaSource(bootstrap, topic, group, FAST_GROUP) as probe:
        return sum(probe.committed(topic, p) or 0 for p in range(3))


def test_5000_messages_stored_once_and_committed(kafka_broker, pg_engine, topic, start) -> None:
    produce(kafka_broker.bootstrap_servers, topic, news(5000, topic))
    first = start(topic)
    wait_for(lambda: stored(pg_engine, topic)[0] >= 5000)
    first.stop()
    assert stored(pg_engine, topic) == (5000, 5000)
    assert first.daemon.stats.consumed == 5000
    assert committed_total(kafka_broker.bootstrap_servers, topic, f"group-{topic}") == 5000

    # restart: it resumes from the committed offsets, so nothing is re-read or duplicated
    produce(kafka_broker.bootstrap_servers, topic, news(600, topic + "-more"))
    second = start(topic)
    wait_for(lambda: stored(pg_engine, topic)[0] >= 5600)
    time.sleep(1)
    second.stop()
    assert stored(pg_engine, topic) == (5600, 5600)
    assert second.daemon.stats.consumed == 600


def test_two_daemons_split_the_partitions(kafka_broker, pg_engine, topic, start) -> None:
    produce(kafka_broker.bootstrap_servers, topic, news(3000, topic))
    a, b = start(topic), start(topic)
    wait_for(lambda: stored(pg_engine, topic)[0] >= 3000)
    time.sleep(1)
    a.stop()
    b.stop()
    assert stored(pg_engine, topic) == (3000, 3000)
    # both worked, and between them they read each message once (a rebalance may re-deliver a
    # batch whose commit raced it; the upsert absorbs that, so consumed may exceed 3000 slightly)
    assert a.daemon.stats.consumed > 0 and b.daemon.stats.consumed > 0
    assert a.daemon.stats.stored + b.daemon.stats.stored == 3000


def test_bad_messages_dead_lettered_and_stream_goes_on(kafka_broker, pg_engine, topic, start) -> None:
    from tests.unit.test_decode import BAD  # the decoder's table of 100+ kinds of bad input

    good = news(400, topic)
    bad = [raw for _, raw, _ in BAD if raw]
    mixed: list[bytes] = []
    for i, g in enumerate(good):
        mixed.append(g)
        if i < len(bad):
            mixed.append(bad[i])
    mixed += bad[len(good):]
    produce(kafka_broker.bootstrap_servers, topic, mixed)
    d = start(topic)
    wait_for(lambda: d.daemon.stats.consumed >= len(mixed))
    d.stop()
    assert stored(pg_engine, topic) == (400, 400)
    with pg_engine.connect() as c:
        rows = c.execute(text("select count(*), count(distinct (kafka_partition, kafka_offset)), max(length(raw)) "
                              "from dead_letters where kafka_topic = :t"), {"t": topic}).one()
    assert rows[0] == rows[1] == len(bad)
    assert rows[2] <= Settings().dead_letter_max_bytes  # capped


def test_healthz_and_metrics(kafka_broker, pg_engine, topic, start, settings_for) -> None:
    import urllib.error
    import urllib.request

    produce(kafka_broker.bootstrap_servers, topic, news(300, topic))
    d = start(topic)
    settings = settings_for(topic).model_copy(update={"http_port": 0})
    ops = app.start_ops_server(settings, d.daemon, app.open_database(settings))
    base = f"http://127.0.0.1:{ops.port}"
    try:
        wait_for(lambda: stored(pg_engine, topic)[0] >= 300)
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            body = json.loads(r.read())
        assert r.status == 200 and body["status"] == "ready" and body["database"] == "ok"
        assert len(body["assignment"]) == 3 and body["last_batch_age_seconds"] is not None
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            text_metrics = r.read().decode()
        for name in ("monitor_articles_consumed_total", "monitor_articles_stored_total",
                     "monitor_dead_letters_total", "monitor_batch_seconds_bucket", "monitor_model_seconds_bucket",
                     "monitor_consumer_lag"):
            assert name in text_metrics, name
        d.stop()  # a stopping daemon is not ready
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert err.value.code == 503
    finally:
        ops.stop()


def test_offsets_an_outage_left_uncommitted_are_committed_when_the_broker_is_back(
    kafka_broker, pg_engine, topic, settings_for
) -> None:
    """Batches stored while the coordinator is unreachable lose their commit. Their partitions may then stay
    quiet (the end of a burst), so no later batch carries the offsets: the daemon must retry them itself."""
    produce(kafka_broker.bootstrap_servers, topic, news(120, topic))
    settings = settings_for(topic)
    outage = threading.Event()
    outage.set()
    done: list[dict] = []  # commits that reached the broker
    connect = app.kafka_connect(settings)

    class CommitsThroughAnOutage:
        """The real consumer, whose commits fail as kafka-python's do while the coordinator is gone."""

        def __init__(self, source: KafkaSource) -> None:
            self._source = source

        def commit(self, offsets: dict, timeout_ms: int = 10_000) -> None:
            if outage.is_set():
                raise BrokerUnavailable("injected: coordinator unreachable")
            self._source.commit(offsets, timeout_ms)
            done.append(dict(offsets))

        def __getattr__(self, name: str) -> object:
            return getattr(self._source, name)

    def connect_through_an_outage() -> CommitsThroughAnOutage:
        return CommitsThroughAnOutage(connect())

    daemon = app.build(settings).daemon(connect=connect_through_an_outage)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: stored(pg_engine, topic)[0] >= 120)
        time.sleep(1)
        assert done == [] and daemon.chain.commit.unacknowledged, "the outage should have left offsets uncommitted"
        outage.clear()  # the broker is back; no message will come again
        wait_for(lambda: sum(done[-1].values()) == 120 if done else False, timeout=20)
        assert daemon.chain.commit.unacknowledged == {}
    finally:
        daemon.stop()
        thread.join(timeout=20)
    assert committed_total(kafka_broker.bootstrap_servers, topic, f"group-{topic}") == 120
    assert stored(pg_engine, topic) == (120, 120)
