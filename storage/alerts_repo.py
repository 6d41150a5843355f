"""Reads and writes of surge detection: stories, alerts, the delivery outbox, the job lock. Every function takes a
``Session`` and never commits. ``Story`` and ``Alert`` are born here and used as they are by ``alerts``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.schema import alert_outbox, article_sentiment, articles, job_leaders, record_columns
from storage.schema import alerts as _ALERTS

# Rows of job_leaders (migration 0006) whose row lock elects the one runner of each job.
DETECTION_LOCK_ID = "surge_detection"
DELIVERY_LOCK_ID = "alert_delivery"


@dataclass(frozen=True, slots=True)
class Story:
    """One classified article, as detection and the Slack message need it."""

    published_at: datetime
    title: str
    topic: str
    sentiment: str
    tickers: tuple[str, ...] = ()
    url: str | None = None
    source: str | None = None
    highlights: tuple[str, ...] = ()
    p_negative: float = 0.0

    @property
    def negative(self) -> bool:
        return self.sentiment == "negative"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert episode as stored (table ``alerts``), with the numbers it fired with."""

    id: int
    rule: str
    scope: str
    key: str
    window_start: datetime
    window_end: datetime
    fired_at: datetime
    last_notified_at: datetime
    resolved_at: datetime | None = None
    negative: int = 0
    total: int = 0
    baseline: float = 0.0  # expected negative share
    p_value: float = 1.0
    odds_ratio: float = 1.0
    slack_channel: str | None = None
    slack_ts: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    alert_id: int
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None


_ALERT_COLUMNS = record_columns(_ALERTS, Alert)
_OUTBOX_COLUMNS = record_columns(alert_outbox, OutboxRecord)


def try_lock(session: Session, lock_id: str = DETECTION_LOCK_ID) -> bool:
    """Become this job's runner for the transaction if nobody is: a row lock on its job_leaders row. Not an advisory
    lock, which any reader could take to hold the job off for good: a row lock needs UPDATE, which readers lack."""
    # The row comes with migration 0006; one deleted by hand is put back rather than skipping for ever.
    session.execute(insert(job_leaders).values(job=lock_id).on_conflict_do_nothing())
    claim = select(job_leaders.c.job).where(job_leaders.c.job == lock_id).with_for_update(skip_locked=True)
    return session.scalar(claim) is not None


def load_stories(session: Session, spans: Sequence[tuple[datetime, datetime]]) -> list[Story]:
    """Every classified article published in any of the [start, end) spans, oldest first."""
    if not spans:
        return []
    v = article_sentiment.c
    stmt = (
        select(v.published_at, v.title, v.topic, v.sentiment, v.tickers, v.url, v.source, v.highlights,
               func.coalesce(v.p_negative, case((v.sentiment == "negative", v.sentiment_score), else_=0.0)))
        .where(or_(*(and_(v.published_at >= start, v.published_at < end) for start, end in spans)))
        .order_by(v.published_at, v.article_id)
    )
    return [Story(at, title, topic, sentiment, tuple(tickers), url, source, tuple(highlights), float(p))
            for at, title, topic, sentiment, tickers, url, source, highlights, p in session.execute(stmt)]


def alerts(session: Session, rule: str | None = None, *, open_only: bool = False) -> list[Alert]:
    """The alerts of ``rule`` (every rule: None), oldest first; only the open ones with ``open_only``."""
    stmt = select(*_ALERT_COLUMNS).order_by(_ALERTS.c.fired_at, _ALERTS.c.id)
    if rule is not None:
        stmt = stmt.where(_ALERTS.c.rule == rule)
    if open_only:
        stmt = stmt.where(_ALERTS.c.resolved_at.is_(None))
    return [Alert(*row) for row in session.execute(stmt)]


def get_alert(session: Session, alert_id: int) -> Alert | None:
    row = session.execute(select(*_ALERT_COLUMNS).where(_ALERTS.c.id == alert_id)).first()
    return Alert(*row) if row else None


def insert_alert(session: Session, alert: Alert) -> int | None:
    """Open ``alert`` (its id is ignored); None if its (rule, scope, key, window) exists or its key has an open one."""
    values = {f.name: getattr(alert, f.name) for f in fields(Alert) if f.name != "id"}
    stmt = insert(_ALERTS).values(values).on_conflict_do_nothing().returning(_ALERTS.c.id)
    return session.execute(stmt).scalar()


def update_alert(session: Session, alert_id: int, *, open_only: bool = False, **values: Any) -> bool:
    """Set columns of one alert; False if none changed (``open_only``: already resolved, another run was first)."""
    stmt = update(_ALERTS).where(_ALERTS.c.id == alert_id).values(values)
    if open_only:
        stmt = stmt.where(_ALERTS.c.resolved_at.is_(None))
    return bool(getattr(session.execute(stmt), "rowcount", 0))


def enqueue(
    session: Session, *, alert_id: int, kind: str, idempotency_key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Add a notification; False if one with this idempotency key is already there."""
    stmt = insert(alert_outbox).values(
        alert_id=alert_id, kind=kind, idempotency_key=idempotency_key, payload=payload, status="pending",
        attempts=0, next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing().returning(alert_outbox.c.id)
    return session.execute(stmt).scalar() is not None


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[OutboxRecord]:
    """Claim due deliveries, oldest first (a thread's first message before its replies), and ones claimed over
    ``lease`` ago (their claimer died); SKIP LOCKED: two daemons never claim the same row."""
    c = alert_outbox.c
    due = or_(and_(c.status == "pending", c.next_attempt_at <= now),
              and_(c.status == "sending", c.claimed_at <= now - lease))
    stmt = select(*_OUTBOX_COLUMNS).where(due).order_by(c.id).limit(limit).with_for_update(skip_locked=True)
    rows = [OutboxRecord(*row) for row in session.execute(stmt)]
    if rows:
        session.execute(update(alert_outbox).where(c.id.in_([r.id for r in rows]))
                        .values(status="sending", claimed_at=now, attempts=c.attempts + 1))
    return rows


def mark_sent(session: Session, outbox_id: int, ts: str | None, now: datetime) -> None:
    session.execute(
        update(alert_outbox).where(alert_outbox.c.id == outbox_id)
        .values(status="sent", sent_at=now, slack_ts=ts, last_error=None)
    )


def mark_retry(session: Session, outbox_id: int, error: str, next_attempt_at: datetime, *, give_up: bool) -> None:
    session.execute(
        update(alert_outbox).where(alert_outbox.c.id == outbox_id)
        .values(status="failed" if give_up else "pending", next_attempt_at=next_attempt_at,
                last_error=error[:1000], claimed_at=None)
    )


def published_range(session: Session) -> tuple[datetime | None, datetime | None]:
    """The first and last published_at of the stored articles (None, None when there are none)."""
    first, last = session.execute(select(func.min(articles.c.published_at), func.max(articles.c.published_at))).one()
    return first, last
