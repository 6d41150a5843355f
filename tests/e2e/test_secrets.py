"""No secret in the output of `monitor run` at DEBUG, while both secrets are really in use.

The Slack token comes from MONITOR_SLACK_TOKEN_FILE and is used: a stored surge makes the detection job post
an alert to the loopback Slack server, which checks the token arrived. The database password sits in
MONITOR_DATABASE_URL (trust auth ignores it, but the client sends the URL through every layer that might log
it). Everything the process writes, stdout and stderr, kafka-python and SQLAlchemy included, is scanned.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from consumers.broker import EmbeddedBroker
from consumers.source import KafkaSink, ensure_topic
from newsgen.headlines import generate
from storage.db import make_engine, make_session_factory, upgrade
from storage.repository import store_batch
from tests.e2e.support import FAST_GROUP_JSON, Daemon, monitor_env, wait_for
from tests.integration.test_alerts import steady, surge
from tests.slack_server import SlackServer

pytestmark = pytest.mark.e2e
TOKEN = "xoxb-0000-SECRET-" + uuid.uuid4().hex
PASSWORD = "pw-SECRET-" + uuid.uuid4().hex[:12] + "/@:%"  # characters that URL encoding changes


def test_debug_output_holds_neither_token_nor_password(
    kafka_broker: EmbeddedBroker, pg_database_factory: Callable[[], str], tiny_checkpoint: Path, tmp_path: Path,
) -> None:
    plain_url = pg_database_factory()
    engine = make_engine(plain_url)
    upgrade(engine)
    now = datetime.now(UTC)
    base = steady(end=now)
    with make_session_factory(engine).begin() as session:  # a surge the first detection run will alert on
        store_batch(session, base + surge(len(base), end=now))
    engine.dispose()
    url = make_url(plain_url).set(password=PASSWORD).render_as_string(hide_password=False)
    assert quote(PASSWORD, safe="") in url  # the URL carries it encoded; the scan looks for both forms

    topic = f"secrets-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    with KafkaSink(kafka_broker.bootstrap_servers, topic) as sink:
        for m in generate(200, seed=5):
            sink.send(json.dumps(m).encode())
        sink.flush()

    token_file = tmp_path / "slack-token"
    token_file.write_text(TOKEN + "\n")
    slack = SlackServer().start()
    try:
        env = monitor_env(
            database_url=url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers, kafka_topic=topic,
            kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP_JSON, model_path=tiny_checkpoint,
            log_level="DEBUG", slack_token_file=token_file, slack_base_url=slack.base_url,
            detect_interval_seconds="1",
        )
        d = Daemon(env, tmp_path / "run.log", stdout_too=True)
        try:
            wait_for(lambda: bool(slack.posts()) or d.proc.poll() is not None, 60, "the alert posted to Slack")
            wait_for(lambda: "batch: " in d.stderr() or d.proc.poll() is not None, 60, "a stored batch")
            d.stop(signal.SIGTERM)
        finally:
            d.kill()
    finally:
        slack.stop()

    # both secrets were really in use ...
    assert any(TOKEN in r.headers.get("Authorization", "") for r in slack.requests)
    output = d.stderr()
    assert " DEBUG " in output and "kafka" in output  # ... at DEBUG, third-party loggers included ...
    # ... and neither shows up, in any spelling
    for secret in (TOKEN, TOKEN.split("-SECRET-")[1], PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD),
                   "SECRET"):
        assert secret not in output, f"{secret!r} leaked into the output"
