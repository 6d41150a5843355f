"""Reads and writes of surge detection: stories and hourly counts, alerts, the delivery outbox, the job lock.

Like ``repository``: every function takes a ``Session`` and never commits; the caller owns the transaction.
Rows come back as plain dataclasses of this module (storage does not import ``alerts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.schema import AlertOutboxRow, AlertRow, ArticleTickerRow, JobLeaderRow, article_sentiment

_ALERTS = cast(Table, AlertRow.__table__)
_OUTBOX = cast(Table, AlertOutboxRow.__table__)
_TICKERS = cast(Table, ArticleTickerRow.__table__)

# Rows of job_leaders (migration 0006) whose row lock elects the one runner of each job.
DETECTION_LOCK_ID = "surge_detection"
DELIVERY_LOCK_ID = "alert_delivery"
_LEADERS = cast(Table, JobLeaderRow.__table__)


@dataclass(frozen=True, slots=True)
class StoryRecord:
    published_at: datetime
    title: str
    url: str | None
    source: str | None
    topic: str
    sentiment: str
    tickers: tuple[str, ...]
    highlights: tuple[str, ...]
    p_negative: float


@dataclass(frozen=True, slots=True)
class HourlyCount:
    bucket: datetime  # the UTC hour, naive
    scope: str
    key: str
    total: int
    negative: int


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    rule: str
    scope: str
    key: str
    window_start: datetime
    window_end: datetime
    negative: int
    total: int
    baseline: float
    p_value: float
    odds_ratio: float
    fired_at: datetime
    last_notified_at: datetime
    resolved_at: datetime | None
    slack_channel: str | None
    slack_ts: str | None


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


# --------------------------------------------------------------------------- the job lock


def try_lock(session: Session, lock_id: str = DETECTION_LOCK_ID) -> bool:
    """Become this job's runner for the transaction if nobody is: a row lock on the job's row of job_leaders,
    released at commit or rollback. Not an advisory lock: any reader can take those and hold detection off for
    good, while a row lock needs UPDATE privilege, which monitor_reader lacks."""
    claim = select(_LEADERS.c.job).where(_LEADERS.c.job == lock_id).with_for_update(skip_locked=True)
    if session.scalar(claim) is not None:
        return True
    if session.scalar(select(func.count()).select_from(_LEADERS).where(_LEADERS.c.job == lock_id)):
        return False  # the row exists: another runner holds it
    # Someone deleted the row: put it back (a concurrent runner doing the same is absorbed) and claim it,
    # rather than skipping for ever.
    session.execute(insert(_LEADERS).values(job=lock_id).on_conflict_do_nothing())
    return session.scalar(claim) is not None


# --------------------------------------------------------------------------- stories and counts


def load_stories(session: Session, spans: Sequence[tuple[datetime, datetime]]) -> list[StoryRecord]:
    """Every classified article published in any of the [start, end) spans, oldest first."""
    if not spans:
        return []
    v = article_sentiment.c
    stmt = (
        select(v.published_at, v.title, v.url, v.source, v.topic, v.sentiment, v.tickers, v.highlights,
               func.coalesce(v.p_negative, case((v.sentiment == "negative", v.sentiment_score), else_=0.0)))
        .where(or_(*(and_(v.published_at >= start, v.published_at < end) for start, end in spans)))
        .order_by(v.published_at, v.article_id)
    )
    return [
        StoryRecord(published_at, title, url, source, topic, sentiment, tuple(tickers or ()),
                    tuple(highlights or ()), float(p or 0.0))
        for published_at, title, url, source, topic, sentiment, tickers, highlights, p in session.execute(stmt)
    ]


def hourly_counts(session: Session, since: datetime, until: datetime) -> list[HourlyCount]:
    """Distinct stories and distinct negative stories per UTC hour, per market, topic and ticker.

    "Distinct" here is SQL's: the same lower-cased, trimmed headline counts once per hour. Detection itself
    dedups in Python (``alerts.history``: punctuation too, and across the day); this is the analysts' and the
    chart's quick view of the same counts.
    """
    v = article_sentiment.c
    bucket = func.date_trunc("hour", func.timezone("UTC", v.published_at))
    story = func.lower(func.trim(v.title))
    total = func.count(func.distinct(story))
    negative = func.count(func.distinct(case((v.sentiment == "negative", story))))
    window = and_(v.published_at >= since, v.published_at < until)
    b = bucket.label("bucket")
    queries = [
        select(b, literal("market").label("scope"), literal("market").label("key"), total, negative)
        .where(window).group_by(bucket),
        select(b, literal("topic"), v.topic, total, negative).where(window).group_by(bucket, v.topic),
        select(b, literal("ticker"), _TICKERS.c.ticker, total, negative)
        .join_from(article_sentiment, _TICKERS, _TICKERS.c.article_id == v.article_id)
        .where(window).group_by(bucket, _TICKERS.c.ticker),
    ]
    out: list[HourlyCount] = []
    for q in queries:
        out += [HourlyCount(bk, scope, key, int(n), int(neg)) for bk, scope, key, n, neg in session.execute(q)]
    return sorted(out, key=lambda c: (c.bucket, c.scope, c.key))


# --------------------------------------------------------------------------- alerts


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(
        row.id, row.rule, row.scope, row.key, row.window_start, row.window_end, row.negative, row.total,
        row.baseline, row.p_value, row.odds_ratio, row.fired_at, row.last_notified_at, row.resolved_at,
        row.slack_channel, row.slack_ts,
    )


def open_alerts(session: Session, rule: str) -> list[AlertRecord]:
    rows = session.execute(select(_ALERTS).where(_ALERTS.c.rule == rule, _ALERTS.c.resolved_at.is_(None)))
    return [_alert(r) for r in rows]


def get_alert(session: Session, alert_id: int) -> AlertRecord | None:
    row = session.execute(select(_ALERTS).where(_ALERTS.c.id == alert_id)).first()
    return _alert(row) if row else None


def all_alerts(session: Session, rule: str | None = None) -> list[AlertRecord]:
    stmt = select(_ALERTS).order_by(_ALERTS.c.fired_at, _ALERTS.c.id)
    if rule is not None:
        stmt = stmt.where(_ALERTS.c.rule == rule)
    return [_alert(r) for r in session.execute(stmt)]


def insert_alert(
    session: Session, *, rule: str, scope: str, key: str, window_start: datetime, window_end: datetime,
    negative: int, total: int, baseline: float, p_value: float, odds_ratio: float, fired_at: datetime,
) -> int | None:
    """Open an alert; None if one already exists for this (rule, scope, key, window) or is open for the key."""
    stmt = insert(_ALERTS).values(
        rule=rule, scope=scope, key=key, window_start=window_start, window_end=window_end, negative=negative,
        total=total, baseline=baseline, p_value=p_value, odds_ratio=odds_ratio, fired_at=fired_at,
        last_notified_at=fired_at,
    ).on_conflict_do_nothing().returning(_ALERTS.c.id)
    return session.execute(stmt).scalar()


def mark_notified(session: Session, alert_id: int, at: datetime) -> None:
    session.execute(update(_ALERTS).where(_ALERTS.c.id == alert_id).values(last_notified_at=at))


def resolve_alert(session: Session, alert_id: int, at: datetime, negative: int, total: int) -> bool:
    """Close an open alert; False if it was already closed (another run got there first)."""
    result = session.execute(
        update(_ALERTS)
        .where(_ALERTS.c.id == alert_id, _ALERTS.c.resolved_at.is_(None))
        .values(resolved_at=at, resolved_negative=negative, resolved_total=total)
    )
    return bool(getattr(result, "rowcount", 0))


def set_thread(session: Session, alert_id: int, channel: str, ts: str) -> None:
    session.execute(update(_ALERTS).where(_ALERTS.c.id == alert_id).values(slack_channel=channel, slack_ts=ts))


# --------------------------------------------------------------------------- outbox


def enqueue(
    session: Session, *, alert_id: int, kind: str, idempotency_key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Add a notification; False if one with this idempotency key is already there."""
    stmt = insert(_OUTBOX).values(
        alert_id=alert_id, kind=kind, idempotency_key=idempotency_key, payload=payload, status="pending",
        attempts=0, next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing().returning(_OUTBOX.c.id)
    return session.execute(stmt).scalar() is not None


def _outbox(row: Any) -> OutboxRecord:
    return OutboxRecord(row.id, row.alert_id, row.kind, row.idempotency_key, dict(row.payload), row.status,
                        row.attempts, row.next_attempt_at, row.claimed_at)


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[OutboxRecord]:
    """Claim deliveries that are due: pending ones whose time came, and 'sending' ones whose claimer died
    (claimed longer than `lease` ago: their outcome is unknown, see ``alerts.slack``). Claimed rows become
    'sending' with one more attempt. FOR UPDATE SKIP LOCKED: two daemons never claim the same row.
    Oldest first, so a thread's first message goes before its replies."""
    due = or_(
        and_(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= now),
        and_(_OUTBOX.c.status == "sending", _OUTBOX.c.claimed_at <= now - lease),
    )
    stmt = select(_OUTBOX).where(due).order_by(_OUTBOX.c.id).limit(limit).with_for_update(skip_locked=True)
    rows = [_outbox(r) for r in session.execute(stmt)]
    if rows:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_([r.id for r in rows]))
            .values(status="sending", claimed_at=now, attempts=_OUTBOX.c.attempts + 1)
        )
    return rows


def mark_sent(session: Session, outbox_id: int, ts: str | None, now: datetime) -> None:
    session.execute(
        update(_OUTBOX).where(_OUTBOX.c.id == outbox_id)
        .values(status="sent", sent_at=now, slack_ts=ts, last_error=None)
    )


def mark_retry(session: Session, outbox_id: int, error: str, next_attempt_at: datetime, *, give_up: bool) -> None:
    session.execute(
        update(_OUTBOX).where(_OUTBOX.c.id == outbox_id)
        .values(status="failed" if give_up else "pending", next_attempt_at=next_attempt_at,
                last_error=error[:1000], claimed_at=None)
    )


def outbox_rows(session: Session, status: str | None = None) -> list[OutboxRecord]:
    stmt = select(_OUTBOX).order_by(_OUTBOX.c.id)
    if status is not None:
        stmt = stmt.where(_OUTBOX.c.status == status)
    return [_outbox(r) for r in session.execute(stmt)]


def pending_thread(session: Session, alert_id: int) -> bool:
    """True while the alert's first message is not delivered yet (its replies must wait for the ts)."""
    ts = session.scalar(select(_ALERTS.c.slack_ts).where(_ALERTS.c.id == alert_id))
    return ts is None


def last_error(session: Session, outbox_id: int) -> str | None:
    return session.scalar(select(_OUTBOX.c.last_error).where(_OUTBOX.c.id == outbox_id))


def published_range(session: Session) -> tuple[datetime | None, datetime | None]:
    """The first and last published_at of the stored articles (None, None when there are none)."""
    from storage.schema import ArticleRow

    articles = cast(Table, ArticleRow.__table__)
    row = session.execute(select(func.min(articles.c.published_at), func.max(articles.c.published_at))).one()
    first, last = row
    return first, last
