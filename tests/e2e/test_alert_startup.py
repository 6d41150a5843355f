"""Alerts are never silently dropped (issue 13, item 3), through the real CLI and the real daemon:

* a Slack token file or MONITOR_CONFIG_FILE that is named but unusable stops `monitor run` (and `monitor
  demo`) at startup with one line and exit 2, the token never printed;
* docker-compose's `MONITOR_SLACK_TOKEN=""` next to MONITOR_SLACK_TOKEN_FILE posts to Slack (it went to the
  console before);
* the daemon says at startup where alerts go, and its /metrics has every labelled counter at 0 (item 8).
"""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.broker import EmbeddedBroker
from consumers.source import ensure_topic
from storage.db import make_engine, make_session_factory, upgrade
from storage.repository import store_batch
from tests.e2e.support import (
    FAST_GROUP_JSON,
    Daemon,
    assert_one_line_error,
    monitor_cmd,
    monitor_env,
    run_monitor,
    wait_for,
)
from tests.integration.test_alerts import steady, surge
from tests.integration.test_prometheus_metrics import assert_all_at_zero
from tests.slack_server import SlackServer

pytestmark = pytest.mark.e2e
TOKEN = "xoxb-2222-E2E-SECRET-" + uuid.uuid4().hex


def _case(tmp_path: Path, case: str) -> dict[str, str | Path]:
    """The settings of one broken startup."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    (tmp_path / "dir").mkdir(exist_ok=True)
    blank = tmp_path / "blank"
    blank.write_text(" \n\n")
    two = tmp_path / "two-lines"
    two.write_text(f"{TOKEN}\n{TOKEN}\n")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text(f'slack_token = "{TOKEN}\n')  # an unterminated string: its content must not be shown
    typo_toml = tmp_path / "typo.toml"
    typo_toml.write_text(f'slack_tokn = "{TOKEN}"\n')
    return {
        "token file missing": {"slack_token": "", "slack_token_file": tmp_path / "nope"},
        "token file is a directory": {"slack_token_file": tmp_path / "dir"},
        "token file blank": {"slack_token": "", "slack_token_file": blank},
        "token file unreadable": {"slack_token_file": "/proc/self/mem"},
        "token file two lines": {"slack_token_file": two},
        "token and token file": {"slack_token": TOKEN, "slack_token_file": token},
        "token with a space": {"slack_token": f"{TOKEN} x"},
        "channel empty": {"slack_token_file": token, "slack_channel": ""},
        "config file missing": {"config_file": tmp_path / "missing.toml"},
        "config file is a directory": {"config_file": tmp_path / "dir"},
        "config file invalid": {"config_file": bad_toml},
        "config file unknown key": {"config_file": typo_toml},
    }[case]


NEEDLES = {
    "token file missing": ("MONITOR_SLACK_TOKEN_FILE", "no such file"),
    "token file is a directory": ("MONITOR_SLACK_TOKEN_FILE", "directory"),
    "token file blank": ("MONITOR_SLACK_TOKEN_FILE", "empty"),
    "token file unreadable": ("MONITOR_SLACK_TOKEN_FILE", "cannot read"),
    "token file two lines": ("MONITOR_SLACK_TOKEN_FILE", "more than one"),
    "token and token file": ("MONITOR_SLACK_TOKEN_FILE", "both"),
    "token with a space": ("MONITOR_SLACK_TOKEN", "not shown"),
    "channel empty": ("MONITOR_SLACK_CHANNEL", "empty"),
    "config file missing": ("MONITOR_CONFIG_FILE", "no such file"),
    "config file is a directory": ("MONITOR_CONFIG_FILE", "directory"),
    "config file invalid": ("MONITOR_CONFIG_FILE", "not valid TOML"),
    "config file unknown key": ("MONITOR_CONFIG_FILE", "slack_tokn"),
}


@pytest.mark.parametrize("case", list(NEEDLES))
def test_a_broken_alert_setting_stops_run_at_startup(case: str, tmp_path: Path, embedded_data_dir: Path) -> None:
    env = monitor_env(database_url=None, embedded_data_dir=embedded_data_dir, kafka_bootstrap_servers="127.0.0.1:1",
                      **_case(tmp_path, case))
    proc = run_monitor("run", env=env, timeout=40)
    assert_one_line_error(proc, "run", *NEEDLES[case])
    assert TOKEN not in proc.stderr + proc.stdout and "SECRET" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("case", ["token file missing", "token and token file", "config file missing"])
def test_a_broken_alert_setting_stops_the_demo_too(case: str, tmp_path: Path) -> None:
    env = monitor_env(**_case(tmp_path, case))
    proc = run_monitor("demo", "--messages", "10", env=env, cwd=tmp_path, timeout=40)
    assert_one_line_error(proc, "demo", *NEEDLES[case])
    assert "starting the bundled" not in proc.stdout  # stopped before doing anything


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no token", "token"])
def test_the_demo_says_first_that_it_never_posts_to_slack(token: str | None, tmp_path: Path) -> None:
    env = monitor_env(slack_token=token)
    proc = subprocess.Popen(monitor_cmd("demo", "--messages", "10"), env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert first.startswith("surge alerts: printed here; the demo never posts to Slack"), first
    assert ("configured Slack token is not used" in first) == (token is not None)
    assert TOKEN not in first


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def test_docker_compose_empty_token_with_a_token_file_posts_to_slack(
    kafka_broker: EmbeddedBroker, pg_database_factory: Callable[[], str], tiny_checkpoint: Path, tmp_path: Path,
) -> None:
    url = pg_database_factory()
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    base = steady(end=now)
    with make_session_factory(engine).begin() as session:  # a surge the first detection run alerts on
        store_batch(session, base + surge(len(base), end=now))
    engine.dispose()
    topic = f"startup-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    token_file = tmp_path / "slack-token"
    token_file.write_text(TOKEN + "\n")
    slack = SlackServer().start()
    try:
        env = monitor_env(
            database_url=url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers, kafka_topic=topic,
            kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP_JSON, model_path=tiny_checkpoint,
            slack_token="", slack_token_file=token_file, slack_base_url=slack.base_url, slack_channel="#risk",
            detect_interval_seconds="1",
        )
        d = Daemon(env, tmp_path / "run.log", stdout_too=True)
        try:
            wait_for(lambda: bool(slack.posts()) or d.proc.poll() is not None, 60, "the alert posted to Slack")
            d.stop(signal.SIGTERM)
        finally:
            d.kill()
    finally:
        slack.stop()
    output = d.stderr()
    assert slack.posts(), output[-3000:]
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in slack.requests if r.method != "upload")
    assert "surge alerts go to Slack channel #risk via 127.0.0.1" in output
    assert "ALERT (no Slack token" not in output and TOKEN not in output


def test_without_a_token_the_daemon_says_so_and_its_counters_start_at_zero(
    kafka_broker: EmbeddedBroker, pg_database_factory: Callable[[], str], tiny_checkpoint: Path, tmp_path: Path,
) -> None:
    url = pg_database_factory()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    topic = f"startup-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_broker.bootstrap_servers, topic, partitions=1)
    env = monitor_env(
        database_url=url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers, kafka_topic=topic,
        kafka_group_id=f"group-{topic}", kafka_consumer_options=FAST_GROUP_JSON, model_path=tiny_checkpoint,
        slack_token="", slack_token_file="",  # docker-compose's ${...:-} for both
    )
    d = Daemon(env, tmp_path / "run.log")
    try:
        port = d.ops_port()
        exposition = _metrics(port)  # nothing consumed, nothing detected that fired or was delivered
        d.stop(signal.SIGTERM)
    finally:
        d.kill()
    assert_all_at_zero(re.sub(r'^monitor_detection_runs_total\{outcome="ran"\} \S+$',
                              'monitor_detection_runs_total{outcome="ran"} 0.0', exposition, flags=re.M))
    assert re.search(r"WARNING .*surge alerts go to the log and the console only", d.stderr()), d.stderr()[-2000:]
