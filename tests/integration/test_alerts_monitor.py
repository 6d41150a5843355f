"""The alerting glue of the top floor: the scheduled job against the loopback Slack server, `monitor
backtest` over generated weeks, the demo's alert lines."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor import alerting
from monitor.app import Database, open_database
from monitor.config import Settings
from monitor.scheduler import start_detection
from monitor.surgegen import Injected, demo_surge, generate_weeks, oracle_classify
from storage.repository import StoredItem, store_batch
from tests.integration.test_alerts import NOW, item, steady, surge
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=SecretStr(f"sqlite:///{tmp_path / 'alerts.db'}"), detect_interval_seconds=1)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


def store(database: Database, items: list[StoredItem]) -> None:
    with database.sessions.begin() as session:
        store_batch(session, items)


def test_the_scheduled_job_posts_within_one_interval_plus_5s(settings: Settings, slack: SlackServer) -> None:
    s = settings.model_copy(update={"slack_token": SecretStr("xoxb-t"), "slack_base_url": slack.base_url})
    database = open_database(s)
    base = steady()
    store(database, base)
    clock = {"now": NOW - timedelta(minutes=1)}  # event time before the surge is stored
    scheduler = start_detection(s, database, now=lambda: clock["now"])
    try:
        job = scheduler.get_job("surge-detection")
        assert job.max_instances == 1 and job.coalesce is True
        time.sleep(1.5)
        assert slack.posts() == []  # nothing surging yet
        store(database, surge(len(base)))  # the surge crosses the threshold ...
        clock["now"] = NOW
        crossed = time.monotonic()
        while not slack.posts() and time.monotonic() - crossed < s.detect_interval_seconds + 5:
            time.sleep(0.05)
        latency = time.monotonic() - crossed
    finally:
        scheduler.shutdown(wait=True)
    assert slack.posts(), "no alert within one interval + 5 s"
    assert latency <= s.detect_interval_seconds + 5
    database.engine.dispose()


def test_backtest_ingests_a_file_and_prints_one_json_line_per_event(settings: Settings, tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    surge_at = start + timedelta(days=8, hours=13, minutes=30)  # a week of history first: hour-of-day baseline
    g = generate_weeks(start, 9 / 7, seed=5, busy_per_hour=200,
                       injected=[Injected("topic", "Earnings", surge_at, factor=4)])
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in g.messages))
    out, err = io.StringIO(), io.StringIO()
    code = alerting.run_backtest(settings, path, start + timedelta(days=8), start + timedelta(days=9), 600,
                                 classify=oracle_classify(g), out=out, err=err)
    assert code == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events, err.getvalue()
    assert set(events[0]) == {"event", "scope", "key", "at", "window_start", "window_end", "negative", "total",
                              "baseline", "p_value"}
    fire = next(e for e in events if e["key"] == "Earnings" and e["event"] == "fire")
    assert surge_at <= datetime.fromisoformat(fire["at"]) <= surge_at + timedelta(hours=2)
    assert any(e["key"] == "Earnings" and e["event"] == "resolve" for e in events)
    summary = json.loads(err.getvalue().splitlines()[-1])["summary"]
    assert summary["fired"] == sum(e["event"] == "fire" for e in events)


def test_demo_alert_lines(settings: Settings) -> None:
    database = open_database(settings)
    now = NOW
    base = steady(end=now)
    demo = demo_surge(now)
    store(database, base + [item(len(base) + i, datetime.fromisoformat(m["published_at"]), m["title"], "negative",
                                 "Legal | Regulation", tuple(m["tickers"])) for i, m in enumerate(demo)])
    lines = alerting.demo_alert_lines(database, now)
    assert any("Negative news surge: ticker CTSB" in line for line in lines)
    assert alerting.demo_alert_lines(database, now + timedelta(minutes=1)) == []  # fired once
    database.engine.dispose()
