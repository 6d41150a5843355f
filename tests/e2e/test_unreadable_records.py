"""Records the consumer cannot get past (issue 13, item 9) end `monitor run` with one ERROR line that says what
to do, exit 4 and no traceback; nothing past the last stored batch is committed, so a restart meets them again.

The codec case is forced for real: a sitecustomize hides the lz4 module from the daemon's interpreter (as on an
installation that lost the package), and librdkafka (confluent-kafka) produces lz4 batches.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, text

from consumers.source import KafkaSource, ensure_topic
from newsgen.headlines import generate
from tests.e2e.support import FAST_GROUP_JSON, Daemon, monitor_env, wait_for

pytestmark = pytest.mark.e2e

HIDE_LZ4 = """import sys
for name in ("lz4", "lz4.frame", "lz4.block"):
    sys.modules[name] = None  # `import lz4.frame` now raises ImportError, as if the package were missing
"""


def _produce(bootstrap: str, topic: str, codec: str, tag: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20})
    for i, m in enumerate(generate(n, seed=3)):
        producer.produce(topic, value=json.dumps({**m, "id": f"{tag}-{i}"}).encode(), key=b"\xff" + bytes([i % 7]))
    assert producer.flush(30) == 0


def _stored(engine: Engine, topic: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text("select count(*) from articles where kafka_topic = :t"), {"t": topic}).scalar_one())


def _run_until_exit(env: dict[str, str], log: Path, timeout: float = 60) -> tuple[int, str]:
    d = Daemon(env, log)
    try:
        wait_for(lambda: d.proc.poll() is not None, timeout, "monitor run to exit")
    finally:
        d.kill()
    return d.proc.returncode, d.stderr()


def test_lz4_without_its_library_is_a_one_line_exit_and_a_restart_stops_again(
    kafka_broker, pg_engine: Engine, pg_url: str, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"e2e-lz4-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=1)
    _produce(bootstrap, topic, "none", f"{topic}-plain", 50)  # readable: stored and committed first
    _produce(bootstrap, topic, "lz4", f"{topic}-lz4", 50)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(HIDE_LZ4)
    env = monitor_env(database_url=pg_url, kafka_bootstrap_servers=bootstrap, kafka_topic=topic,
                      kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP_JSON,
                      model_path=tiny_checkpoint, batch_max_wait_ms="100")
    env["PYTHONPATH"] = str(tmp_path / "site")

    for attempt in ("first", "restart"):
        rc, stderr = _run_until_exit(env, tmp_path / f"{attempt}.log")
        assert rc == 4, (rc, stderr[-3000:])
        assert "Traceback" not in stderr, stderr[-3000:]
        errors = [line for line in stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1, stderr[-3000:]
        line = errors[0]
        for needle in ("lz4", topic, "install", "restart"):
            assert needle in line, (needle, line)

    assert _stored(pg_engine, topic) == 50  # everything before the lz4 batches
    with KafkaSource(bootstrap, topic, f"group-{topic}", json.loads(FAST_GROUP_JSON)) as probe:
        assert probe.committed(topic, 0) == 50  # and nothing past them

    env.pop("PYTHONPATH")  # the operator installs the library: the same records are read
    d = Daemon(env, tmp_path / "fixed.log")
    try:
        wait_for(lambda: _stored(pg_engine, topic) == 100 or d.proc.poll() is not None, 60, "the lz4 messages")
        d.stop()
    finally:
        d.kill()
