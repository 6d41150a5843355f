"""`monitor run` as a real process: Tansu broker -> daemon (tiny model) -> PostgreSQL, stopped by signals.

What a signal must never do: commit an offset past what is stored (a message would be lost). What a restart
must do: pick up at the committed offsets, so that every message ends up stored exactly once.
"""

from __future__ import annotations

import re
import signal
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from consumers.source import ensure_topic
from newsgen.headlines import INVALID_SAMPLES
from tests.e2e import stream
from tests.e2e.support import FAST_GROUP_JSON, Daemon, monitor_env, wait_for

pytestmark = pytest.mark.e2e










def _articles(engine: Engine, topic: str) -> tuple[int, set[str]]:
    with engine.connect() as c:
        rows = c.execute(text("select external_id from articles where kafka_topic = :t"), {"t": topic}).all()
    return len(rows), {r[0] for r in rows}


def _stored_total(engine: Engine, topic: str) -> int:
    return sum(len(v) for v in stream.stored_offsets(engine, topic).values())




def _assert_commits_within_stored(committed: dict[int, int], stored: dict[int, list[int]]) -> None:
    for p in range(stream.PARTITIONS):
        offsets = stored[p]
        assert committed[p] <= (offsets[-1] + 1 if offsets else 0), (p, committed[p], offsets[-5:])
        # stronger: every message below the committed offset is stored
        assert set(range(committed[p])) <= set(offsets), (p, committed[p])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_mid_stream_then_resume_stores_each_message_once(
    sig: signal.Signals, kafka_broker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"e2e-run-{uuid.uuid4().hex[:10]}"
    group = f"group-{topic}"
    ensure_topic(bootstrap, topic, partitions=stream.PARTITIONS)
    messages = stream.messages(topic, 3000 if sig is signal.SIGTERM else 1500)
    total, valid = len(messages), len(messages) - len(INVALID_SAMPLES)
    stream.produce(bootstrap, topic, messages)
    env = monitor_env(database_url=pg_url, kafka_bootstrap_servers=bootstrap, kafka_topic=topic,
                      kafka_group_id=group, kafka_consumer_options=FAST_GROUP_JSON, model_path=tiny_checkpoint,
                      batch_max_size="100", batch_max_wait_ms="100")

    first = Daemon(env, tmp_path / "first.log")
    daemons.append(first)
    wait_for(lambda: _stored_total(pg_engine, topic) >= 200 or first.proc.poll() is not None, 45,
             "the first daemon to store some messages")
    first.stop(sig)
    stored = stream.stored_offsets(pg_engine, topic)
    committed = stream.committed(bootstrap, topic, group)
    _assert_commits_within_stored(committed, stored)
    assert sum(committed.values()) > 0  # it did commit what it stored
    after_first = sum(len(v) for v in stored.values())
    assert 0 < after_first <= total

    second = Daemon(env, tmp_path / "second.log")
    daemons.append(second)
    wait_for(lambda: _stored_total(pg_engine, topic) >= total or second.proc.poll() is not None, 45,
             "the second daemon to store the rest")
    second.stop(signal.SIGTERM)

    rows, ids = _articles(pg_engine, topic)
    assert rows == valid and ids == {f"{topic}-{i}" for i in range(valid)}  # each article once
    stored = stream.stored_offsets(pg_engine, topic)
    committed = stream.committed(bootstrap, topic, group)
    for p in range(stream.PARTITIONS):  # each (partition, offset) stored once, none missing, all committed
        assert stored[p] == list(range(len(stored[p]))), p
        assert committed[p] == len(stored[p]), (p, committed[p], len(stored[p]))
    assert sum(len(v) for v in stored.values()) == total
    assert all(stored[p] for p in range(stream.PARTITIONS))  # keys spread the messages over every partition
    # new articles as each process counted them: redelivered ones are not counted twice
    assert first.stored_count() + second.stored_count() == valid


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_without_broker_keeps_retrying_and_stops_on_sigterm(
    tiny_checkpoint: Path, tmp_path: Path, daemons: list[Daemon], embedded_data_dir: Path
) -> None:
    """On the embedded server (no MONITOR_DATABASE_URL), as a newcomer's first `monitor run` would be."""
    env = monitor_env(database_url=None, embedded_data_dir=embedded_data_dir, kafka_topic="news-nowhere",
                      kafka_bootstrap_servers=f"127.0.0.1:{_closed_port()}", kafka_consumer_options=FAST_GROUP_JSON,
                      model_path=tiny_checkpoint)
    d = Daemon(env, tmp_path / "run.log")
    daemons.append(d)

    def retrying() -> bool:
        return len(re.findall(r"unavailable|unreachable", d.stderr())) >= 2 or d.proc.poll() is not None

    wait_for(retrying, 40, "two 'broker unavailable' log lines")  # it retried at least once
    assert d.proc.poll() is None, f"monitor run gave up:\n{d.stderr()[-3000:]}"
    d.stop(signal.SIGTERM)
    assert re.search(r"WARNING.*kafka broker (unavailable|unreachable)", d.stderr()), d.stderr()[-3000:]
