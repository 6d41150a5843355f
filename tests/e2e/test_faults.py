"""Faults injected into the real parts around `monitor run` (a real process, tiny model, PostgreSQL, Tansu):

- the daemon killed with SIGKILL three times while 20,000 messages go through;
- PostgreSQL unreachable for 30 s (a TCP proxy on loopback that the test cuts: the server itself is shared);
- the broker unreachable at start and again mid-run (the same kind of proxy in front of a broker of our own).

Each checks that nothing is lost or stored twice, and that committed offsets never get ahead of storage.
The README's fault table quotes the figures these tests print (run with -s to see them).
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from consumers.broker import EmbeddedBroker
from consumers.source import ensure_topic
from newsgen.headlines import INVALID_SAMPLES
from tests.e2e import stream
from tests.e2e.support import FAST_GROUP_JSON, Daemon, monitor_env, wait_for
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e










def _stored_total(engine: Engine, topic: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text(
            "select (select count(*) from articles where kafka_topic = :t)"
            " + (select count(*) from dead_letters where kafka_topic = :t)"), {"t": topic}).scalar_one())


def _wait_stored(engine: Engine, topic: str, n: int, d: Daemon, timeout: float) -> None:
    """Until n messages of topic are stored; fails at once if the daemon died, or after timeout."""
    wait_for(lambda: _stored_total(engine, topic) >= n or d.proc.poll() is not None, timeout, f"{n} stored")
    assert d.proc.poll() is None, f"the daemon exited ({d.proc.returncode}):\n{d.stderr()[-3000:]}"




def _commits_within_storage(committed: dict[int, int], stored: dict[int, list[int]]) -> int:
    """Assert no committed offset is ahead of storage; return how many stored messages are past the commit
    (a restart re-delivers them and the idempotent upsert absorbs them)."""
    ahead_of_commit = 0
    for p in range(stream.PARTITIONS):
        offsets = stored[p]
        assert committed[p] <= (offsets[-1] + 1 if offsets else 0), (p, committed[p], offsets[-5:])
        assert set(range(committed[p])) <= set(offsets), (p, committed[p])  # every message below it is stored
        ahead_of_commit += sum(1 for o in offsets if o >= committed[p])
    return ahead_of_commit


def _assert_exactly_once(engine: Engine, topic: str, total: int, valid: int) -> None:
    stored = stream.stored_offsets(engine, topic)
    for p in range(stream.PARTITIONS):  # each (partition, offset) stored once, none missing
        assert stored[p] == list(range(len(stored[p]))), p
    assert sum(len(v) for v in stored.values()) == total
    with engine.connect() as c:
        rows, distinct_ids, classified = c.execute(text(
            "select count(*), count(distinct a.external_id), count(c.id) from articles a "
            "left join classifications c on c.article_id = a.id where a.kafka_topic = :t"), {"t": topic}).one()
        ids = {r[0] for r in c.execute(text("select external_id from articles where kafka_topic = :t"), {"t": topic})}
    assert (rows, distinct_ids, classified) == (valid, valid, valid)  # one row and one classification each
    assert ids == {f"{topic}-{i}" for i in range(valid)}


def _env(bootstrap: str, database_url: str, topic: str, model: Path, **more: str) -> dict[str, str]:
    settings: dict[str, str | Path] = {
        "database_url": database_url, "kafka_bootstrap_servers": bootstrap, "kafka_topic": topic,
        "kafka_group_id": f"group-{topic}", "kafka_consumer_options": FAST_GROUP_JSON, "model_path": model,
        "batch_max_size": "256", "batch_max_wait_ms": "100",
    }
    return monitor_env(**{**settings, **more})


# ------------------------------------------------------------------------------------------ kill -9


def test_kill_9_three_times_loses_and_duplicates_nothing(
    kafka_broker: EmbeddedBroker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"fault-kill-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=stream.PARTITIONS)
    messages = stream.messages(topic, 20_000)
    total, valid = len(messages), len(messages) - len(INVALID_SAMPLES)
    stream.produce(bootstrap, topic, messages)
    env = _env(bootstrap, pg_url, topic, tiny_checkpoint)
    rng = random.Random(5)

    redelivered = 0
    for n, kill_after in enumerate((4_000, 9_000, 14_000)):
        d = Daemon(env, tmp_path / f"run{n}.log")
        daemons.append(d)
        _wait_stored(pg_engine, topic, kill_after, d, 90)
        time.sleep(rng.uniform(0, 0.3))  # land anywhere in a batch: decoding, the model, the write, the commit
        d.kill()  # SIGKILL: no clean-up of any kind
        assert d.proc.returncode == -signal.SIGKILL
        redelivered += _commits_within_storage(stream.committed(bootstrap, topic, f"group-{topic}"),
                                               stream.stored_offsets(pg_engine, topic))

    last = Daemon(env, tmp_path / "last.log")
    daemons.append(last)
    _wait_stored(pg_engine, topic, total, last, 90)
    last.stop(signal.SIGTERM)
    _assert_exactly_once(pg_engine, topic, total, valid)
    committed = stream.committed(bootstrap, topic, f"group-{topic}")
    assert sum(committed.values()) == total  # everything committed in the end
    print(f"\nkill -9 x3: {total} messages, lost 0, duplicated 0, re-delivered after the kills {redelivered}")


# ------------------------------------------------------------------------------------------ PostgreSQL


def _healthz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        found = re.search(rf"^{name} (\S+)$", r.read().decode(), re.M)
    assert found, name
    return float(found.group(1))


def _lines(log: str, pattern: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(pattern, line)]


PG_OUTAGE_S = 30


def test_postgres_unreachable_for_30s_pauses_and_resumes(
    kafka_broker: EmbeddedBroker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"fault-pg-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=stream.PARTITIONS)
    messages = stream.messages(topic, 3_000)
    total, valid = len(messages), len(messages) - len(INVALID_SAMPLES)
    stream.produce(bootstrap, topic, messages)
    target = make_url(pg_url)
    socket_dir = target.query.get("host")  # the embedded server: a unix socket only
    with TcpProxy(str(socket_dir or target.host or "127.0.0.1"), target.port or 5432) as proxy:
        proxied_url = target.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port) \
            .render_as_string(hide_password=False)
        # batches of 50: the stream is still flowing when the database goes away
        d = Daemon(_env(bootstrap, proxied_url, topic, tiny_checkpoint, batch_max_size="50"), tmp_path / "run.log")
        daemons.append(d)
        port = d.ops_port()
        _wait_stored(pg_engine, topic, 500, d, 60)

        proxy.cut()
        cut_at = time.monotonic()
        log_before = len(d.stderr().splitlines())
        time.sleep(3)  # a write in flight at the cut fails; nothing gets through after it
        stored_during = _stored_total(pg_engine, topic)
        assert stored_during < total, "the stream was over before the outage: the test proves nothing"
        wait_for(lambda: _healthz(port)[0] == 503, 10, "/healthz to answer 503")
        assert _healthz(port)[1]["database"] == "unreachable"
        assert _metric(port, "monitor_database_up") == 0
        time.sleep(max(0.0, PG_OUTAGE_S - (time.monotonic() - cut_at)))
        assert d.proc.poll() is None, f"the daemon died in the outage:\n{d.stderr()[-3000:]}"
        assert _stored_total(pg_engine, topic) == stored_during  # really cut: nothing got through
        outage_lines = d.stderr().splitlines()[log_before:]

        proxy.restore()
        restored_at = time.monotonic()
        wait_for(lambda: _stored_total(pg_engine, topic) > stored_during, 60, "the first write after the outage")
        resumed_s = time.monotonic() - restored_at
        _wait_stored(pg_engine, topic, total, d, 60)
        assert _healthz(port)[0] == 200
        assert _metric(port, "monitor_database_up") == 1
        d.stop(signal.SIGTERM)
        assert proxy.connections > 0

    log = d.stderr()
    # one line when it goes, one when it comes back; not one per message or per retry
    assert len(_lines(log, r"ERROR .*monitor\.daemon: database unavailable")) == 1, log[-3000:]
    assert len(_lines(log, r"monitor\.daemon: database available again")) == 1, log[-3000:]
    assert len(outage_lines) <= 5, "\n".join(outage_lines)
    _assert_exactly_once(pg_engine, topic, total, valid)
    print(f"\nPostgreSQL cut {PG_OUTAGE_S}s: {total} messages, lost 0, duplicated 0, "
          f"{len(outage_lines)} log lines during the outage, writing again {resumed_s:.1f}s after it ended")


# ------------------------------------------------------------------------------------------ broker


class ProxiedBroker(EmbeddedBroker):
    """Tansu advertising a proxy's address: every client connection after bootstrap goes through the proxy
    too, so cutting the proxy makes the broker vanish for the daemon while its topics and offsets survive
    (Tansu's memory storage would lose them in a real restart; its other engines are not in this build)."""

    def __init__(self) -> None:
        super().__init__()
        self.proxy = TcpProxy("127.0.0.1", self.port)

    @property
    def bootstrap_servers(self) -> str:
        return self.proxy.address

    def _command(self) -> list[str]:
        cmd = super()._command()
        cmd[cmd.index("--advertised-listener-url") + 1] = f"tcp://{self.proxy.address}"
        return cmd

    def start(self, timeout_s: float = 30.0) -> ProxiedBroker:
        if self.proxy._listener is None:
            self.proxy.start()
        super().start(timeout_s)
        return self


@pytest.fixture
def proxied_broker() -> Iterator[ProxiedBroker]:
    broker = ProxiedBroker()
    try:
        broker.start()
        yield broker
    finally:
        broker.proxy.close()
        broker.close()


BROKER_OUTAGE_S = 12


def test_broker_unreachable_at_start_and_mid_run_recovers(
    proxied_broker: ProxiedBroker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    bootstrap = proxied_broker.bootstrap_servers
    topic = f"fault-broker-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=stream.PARTITIONS)
    messages = stream.messages(topic, 3_000)
    total, valid = len(messages), len(messages) - len(INVALID_SAMPLES)
    stream.produce(bootstrap, topic, messages)

    proxied_broker.proxy.cut()  # unreachable at start
    d = Daemon(_env(bootstrap, pg_url, topic, tiny_checkpoint, batch_max_size="50"), tmp_path / "run.log")
    daemons.append(d)
    wait_for(lambda: bool(_lines(d.stderr(), r"kafka broker unavailable")) or d.proc.poll() is not None, 60,
             "a 'broker unavailable' line")
    assert d.proc.poll() is None, d.stderr()[-3000:]
    assert _stored_total(pg_engine, topic) == 0
    proxied_broker.proxy.restore()
    _wait_stored(pg_engine, topic, 500, d, 60)

    proxied_broker.proxy.cut()  # gone mid-run
    log_before = len(d.stderr().splitlines())
    time.sleep(3)
    stored_during = _stored_total(pg_engine, topic)
    assert stored_during < total, "the stream was over before the outage: the test proves nothing"
    time.sleep(BROKER_OUTAGE_S - 3)
    assert d.proc.poll() is None, f"the daemon died in the outage:\n{d.stderr()[-3000:]}"
    # Records kafka-python fetched before the cut may still be stored during it (their commits fail and
    # they are re-delivered later): so only "not finished", unlike the database outage.
    assert _stored_total(pg_engine, topic) < total
    outage_lines = d.stderr().splitlines()[log_before:]

    proxied_broker.proxy.restore()
    restored_at = time.monotonic()
    _wait_stored(pg_engine, topic, total, d, 90)
    finished_s = time.monotonic() - restored_at
    d.stop(signal.SIGTERM)

    log = d.stderr()
    # at start: a WARNING per attempt (with backoff), then one line when it connects; mid-run: one line each way
    assert len(_lines(log, r"ERROR .*monitor\.daemon: kafka broker unreachable")) == 1, log[-3000:]
    assert len(_lines(log, r"monitor\.daemon: kafka broker reachable again")) == 2, log[-3000:]
    assert len(outage_lines) <= 5, "\n".join(outage_lines)
    _assert_exactly_once(pg_engine, topic, total, valid)
    committed = stream.committed(bootstrap, topic, f"group-{topic}")
    assert sum(committed.values()) == total
    print(f"\nbroker cut at start and {BROKER_OUTAGE_S}s mid-run: {total} messages, lost 0, duplicated 0, "
          f"{len(outage_lines)} log lines during the outage, all stored {finished_s:.1f}s after it ended")
