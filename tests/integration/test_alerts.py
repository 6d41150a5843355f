"""Surge detection -> alerts + outbox -> Slack, against real PostgreSQL and a Slack-compatible
HTTP server on loopback (tests/slack_server.py) that records requests and can answer 429, 500 or nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.history import History, keys_of
from alerts.job import run_detection
from alerts.slack import ConsoleNotifier, DeliveryPolicy, SlackNotifier, deliver_due, make_client
from alerts.surge import MARKET_KEY, Thresholds, hour_floor
from consumers.article import Article
from model.prediction import Prediction
from storage import alerts_repo as repo
from storage.db import make_engine, make_session_factory, upgrade
from storage.repository import StoredItem, store_batch
from storage.schema import alert_outbox
from tests.slack_server import CHANNEL_ID, SlackServer

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
T = Thresholds()
TOKEN = "xoxb-test-token"
FAST = DeliveryPolicy(first_backoff=timedelta(seconds=5))


def item(i: int, at: datetime, title: str, sentiment: str, topic: str = "Markets",
         tickers: tuple[str, ...] = (), highlights: tuple[str, ...] = ()) -> StoredItem:
    article = Article(key=f"k{i}", title=title, published_at=at, id=f"k{i}", url=f"https://news.example/{i}",
                      source="wire-a", tickers=tickers)
    score = 0.9 if sentiment == "negative" else 0.8
    prediction = Prediction(topic=topic, topic_score=0.9, sentiment=sentiment, sentiment_score=score,
                            model_version="v1", sentiment_probs={"negative": score if sentiment == "negative" else 0.1},
                            highlights=highlights)
    return StoredItem(article, prediction)


def steady(hours: int = 26, per_hour: int = 30, end: datetime = NOW) -> list[StoredItem]:
    """`hours` of ordinary news before `end`: a quarter negative, spread over two topics."""
    items = []
    start = end - timedelta(hours=hours)
    for h in range(hours):
        for j in range(per_hour):
            at = start + timedelta(hours=h, seconds=j * 3600 // per_hour)
            sentiment = "negative" if j % 4 == 0 else ("positive" if j % 4 == 1 else "neutral")
            topic = "Markets" if j % 2 else "Earnings"
            items.append(item(len(items), at, f"routine story {h}-{j}", sentiment, topic))
    return items


def surge(first_id: int, n: int = 20, end: datetime = NOW) -> list[StoredItem]:
    """n negative stories about Contoso Bank in the last 50 minutes before `end`."""
    return [
        item(first_id + i, end - timedelta(minutes=50) + timedelta(minutes=2 * i),
             f"Contoso Bank faces regulator probe, report {i} <&>", "negative", "Legal | Regulation", ("CTSB",),
             ("probe", "regulator"))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def pg_alerts_engine(pg_database_factory: Callable[[], str]) -> Iterator[Engine]:
    """One database for the module (creating and dropping one per test costs seconds); emptied per test."""
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_sessions(pg_alerts_engine: Engine) -> sessionmaker[Session]:
    with pg_alerts_engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE alert_outbox, alerts, article_tickers, classifications, articles CASCADE")
    return make_session_factory(pg_alerts_engine)


@pytest.fixture
def sessions(pg_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return pg_sessions


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


def store(sessions: sessionmaker[Session], items: list[StoredItem]) -> None:
    with sessions.begin() as session:
        store_batch(session, items)


def detect_at(sessions: sessionmaker[Session], now: datetime) -> list[str]:
    with sessions.begin() as session:
        result = run_detection(session, now, T)
    return [f"{d.action} {s.scope}/{s.key}" for s, d in result.decisions]


def notifier(slack: SlackServer, chart: bool = True) -> SlackNotifier:
    return SlackNotifier(make_client(TOKEN, slack.base_url, max_retries=1), "#news-alerts", chart=chart)


def with_surge(sessions: sessionmaker[Session]) -> list[str]:
    base = steady()
    store(sessions, base + surge(len(base)))
    return detect_at(sessions, NOW)


def test_a_surge_fires_is_posted_with_its_chart_and_resolves_in_the_thread(
    sessions: sessionmaker[Session], slack: SlackServer
) -> None:
    decisions = with_surge(sessions)
    assert "fire ticker/CTSB" in decisions
    assert "fire topic/Legal | Regulation" in decisions
    assert "fire market/market" in decisions  # 20 extra negatives move the whole (quiet) market too
    assert not any("Earnings" in d or "Markets" in d for d in decisions)  # ordinary keys stay quiet
    assert detect_at(sessions, NOW + timedelta(minutes=1)) == []  # open: no second alert

    result = deliver_due(sessions, notifier(slack), NOW, FAST)
    assert result.sent == len(decisions) and result.retried == 0
    posts = slack.posts()
    assert len(posts) == len(decisions)
    ticker = next(p for p in posts if "ticker CTSB" in p["text"])
    assert ticker["channel"] == "#news-alerts"
    assert "20 of 2" in ticker["text"] and "vs baseline" in ticker["text"]
    rendered = str(ticker["blocks"])
    assert "Negative news surge: ticker CTSB" in rendered
    assert "*probe*" in rendered and "*regulator*" in rendered  # highlighted words
    assert "<https://news.example/" in rendered and "&lt;&amp;&gt;" in rendered  # links; text escaped
    assert rendered.count("• ") == 5  # the top 5 headlines
    assert "14:00 UTC – 15:00 UTC" in rendered  # the window
    assert ticker["metadata"]["event_payload"]["idempotency_key"].endswith(":fire")
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in slack.requests if r.method != "upload")
    # The chart: getUploadURLExternal -> the upload URL -> completeUploadExternal into the alert's thread.
    assert len(slack.calls("files.getUploadURLExternal")) == len(decisions)
    upload = slack.calls("upload")[0]
    assert upload.body.startswith(b"\x89PNG")
    complete = slack.calls("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == CHANNEL_ID and complete["thread_ts"]

    # Three hours on, nothing new: every alert resolves, in its own thread.
    later = NOW + timedelta(hours=3)
    store(sessions, steady(3, end=later)[:0])  # (no new stories needed: the window is simply quiet)
    resolved = detect_at(sessions, later)
    assert sorted(resolved) == sorted(d.replace("fire", "resolve") for d in decisions)
    deliver_due(sessions, notifier(slack), later, FAST)
    replies = [p for p in slack.posts() if p.get("thread_ts")]
    assert len(replies) == len(decisions)
    first_ts = {m["ts"] for m in slack.messages if not m["thread_ts"]}
    assert {p["thread_ts"] for p in replies} == first_ts
    assert all(p["text"].startswith("Resolved:") for p in replies)
    assert deliver_due(sessions, notifier(slack), later + timedelta(hours=1), FAST).sent == 0


def test_rate_limit_is_honoured_with_retry_after(pg_sessions: sessionmaker[Session], slack: SlackServer) -> None:
    with_surge(pg_sessions)
    slack.fail("chat.postMessage", "429", times=1, retry_after=1)
    started = time.monotonic()
    result = deliver_due(pg_sessions, notifier(slack, chart=False), NOW, FAST)
    assert time.monotonic() - started >= 1.0  # waited for Retry-After
    assert result.sent == 3 and result.retried == 0
    assert slack.attempts["chat.postMessage"] == 4 and len(slack.posts()) == 3


def test_server_errors_are_retried(pg_sessions: sessionmaker[Session], slack: SlackServer) -> None:
    with_surge(pg_sessions)
    slack.fail("chat.postMessage", "500", times=1)
    slack.fail("files.getUploadURLExternal", "drop", times=1)  # a dropped connection, retried too
    result = deliver_due(pg_sessions, notifier(slack), NOW, FAST)
    assert result.sent == 3 and len(slack.posts()) == 3
    assert len(slack.calls("files.completeUploadExternal")) == 3


def test_an_outage_loses_nothing_and_recovery_delivers_exactly_once(
    pg_sessions: sessionmaker[Session], slack: SlackServer
) -> None:
    with_surge(pg_sessions)
    slack.outage = True
    result = deliver_due(pg_sessions, notifier(slack, chart=False), NOW, FAST)
    assert (result.sent, result.retried) == (0, 3) and slack.posts() == []
    assert slack.attempts["chat.postMessage"] == 2  # one try + one retry, then the drain stops
    with pg_sessions() as session:
        pending = session.execute(select(alert_outbox).where(alert_outbox.c.status == "pending")).all()
    assert len(pending) == 3 and all(r.attempts == 1 for r in pending)
    # Not due yet: the backoff holds it back even though Slack is back.
    slack.outage = False
    assert deliver_due(pg_sessions, notifier(slack, chart=False), NOW + timedelta(seconds=1), FAST).sent == 0
    assert deliver_due(pg_sessions, notifier(slack, chart=False), NOW + timedelta(seconds=6), FAST).sent == 3
    assert deliver_due(pg_sessions, notifier(slack, chart=False), NOW + timedelta(hours=1), FAST).sent == 0
    assert len(slack.posts()) == 3


def test_a_restart_after_slack_accepted_does_not_send_again(
    pg_sessions: sessionmaker[Session], slack: SlackServer
) -> None:
    """The daemon dies after Slack took the message but before it recorded that: the row stays 'sending';
    the next claimer finds the message by its metadata and marks it sent instead of posting it twice."""
    with_surge(pg_sessions)
    n = notifier(slack, chart=False)
    with pg_sessions.begin() as session:
        claimed = repo.claim_due(session, NOW, 10, FAST.lease)
    for row in claimed:  # Slack accepts, then the process "crashes"
        n.send(row.kind, row.payload, row.idempotency_key, None)
    assert len(slack.posts()) == 3
    # Within the lease nobody touches them; after it, they are reconciled, not re-sent.
    assert deliver_due(pg_sessions, n, NOW + timedelta(seconds=30), FAST).sent == 0
    assert deliver_due(pg_sessions, n, NOW + FAST.lease + timedelta(seconds=1), FAST).sent == 3
    assert len(slack.posts()) == 3
    with pg_sessions() as session:
        assert all(a.slack_ts for a in repo.alerts(session))


def test_two_runners_on_one_database_make_one_alert(pg_sessions: sessionmaker[Session]) -> None:
    base = steady()
    store(pg_sessions, base + surge(len(base)))
    # A runner holding the lock makes the other skip, not wait.
    with pg_sessions.begin() as holder:
        assert repo.try_lock(holder)
        with pg_sessions.begin() as other:
            assert run_detection(other, NOW, T).ran is False
    # Two runners at once (threads, own connections): one alert per key, one outbox row per alert.
    barrier = threading.Barrier(4)
    outcomes: list[list[str]] = []

    def runner(now: datetime) -> None:
        barrier.wait()
        outcomes.append(detect_at(pg_sessions, now))

    threads = [threading.Thread(target=runner, args=(NOW + timedelta(seconds=i),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with pg_sessions() as session:
        alerts = repo.alerts(session)
        outbox = session.execute(select(alert_outbox)).all()
    keys = [(a.scope, a.key) for a in alerts]
    assert len(keys) == len(set(keys)) == 3
    assert len(outbox) == 3
    assert sum(len(o) for o in outcomes) == 3


def test_without_a_token_alerts_go_to_the_console(sessions: sessionmaker[Session]) -> None:
    with_surge(sessions)
    lines: list[str] = []
    result = deliver_due(sessions, ConsoleNotifier(lines.append), NOW, FAST)
    assert result.sent == 3
    text = "\n".join(lines)
    assert "Negative news surge: ticker CTSB" in text and "Contoso Bank faces regulator probe" in text


def test_hourly_counts_and_stories(sessions: sessionmaker[Session]) -> None:
    base = steady(3)
    dup = [item(9000, NOW - timedelta(minutes=5), " ROUTINE story 2-0", "negative")]  # same story, other outlet
    store(sessions, base + surge(len(base), n=4) + dup)
    with sessions() as session:
        history = History.of(repo.load_stories(session, [(NOW - timedelta(hours=3), NOW)]))
        stories = repo.load_stories(session, [(NOW - timedelta(minutes=60), NOW)])
    hours = sorted({hour_floor(s.published_at) for s in history.stories})
    market = [history.hour_counts(h, ("market", MARKET_KEY)) for h in hours]
    assert [c.total for c in market] == [30, 30, 34]
    assert [c.negative for c in market] == [8, 8, 12]
    assert {key for s in history.stories for scope, key in keys_of(s) if scope == "ticker"} == {"CTSB"}
    assert stories[-1].tickers == () and any(s.tickers == ("CTSB",) for s in stories)
    assert all(s.published_at >= NOW - timedelta(minutes=60) for s in stories)
