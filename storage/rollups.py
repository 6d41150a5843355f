"""Hourly rollups: exact per-hour sentiment counts of every article's current classification.

``sentiment_hourly`` and ``ticker_sentiment_hourly`` read ``sentiment_rollup_hourly`` and
``ticker_rollup_hourly`` (migration 0004) instead of grouping the whole history, so 30 days answer in
milliseconds at 10 million articles. The counts are kept exact *incrementally*, in the transaction that
stores each batch: ``store_batch`` tells ``apply`` which results an article gained and lost. They stay equal
to ``article_sentiment`` grouped by hour (a property test checks it after random batches, redeliveries,
re-classifications and preference changes); ``rebuild`` recomputes them from scratch, after ``monitor model
use`` changes which version is current.

Locking: upserts touch rows in sorted key order, so two daemons storing overlapping hours cannot deadlock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from storage import bulk_pg
from storage.schema import ArticleTickerRow, SentimentRollupRow, TickerRollupRow, article_sentiment

_TOPICS = cast(Table, SentimentRollupRow.__table__)
_TICKERS_ROLLUP = cast(Table, TickerRollupRow.__table__)
_ARTICLE_TICKERS = cast(Table, ArticleTickerRow.__table__)

_CHUNK = 2000  # ids per IN (...): well under SQLite's bound-parameter limit
_SENTIMENT_INDEX = {"negative": 1, "neutral": 2, "positive": 3}  # position in (total, negative, neutral, positive)


@dataclass(frozen=True, slots=True)
class Counted:
    """One article's current result, as the rollups count it."""

    published_at: datetime
    topic: str
    sentiment: str
    tickers: tuple[str, ...]


def hour_of(published_at: datetime, dialect: str) -> datetime | str:
    """The rollup bucket: the UTC hour, as the views have always shown it on each dialect."""
    hour = published_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return hour.strftime("%Y-%m-%d %H:00:00") if dialect == "sqlite" else hour


def current_results(session: Session, article_ids: Collection[int]) -> dict[int, Counted]:
    """The current result (per ``article_sentiment``) of each article that has one."""
    ids = list(article_ids)
    view = article_sentiment.c
    rows: dict[int, tuple[datetime, str, str]] = {}
    tickers: dict[int, list[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stmt = select(view.article_id, view.published_at, view.topic, view.sentiment).where(view.article_id.in_(chunk))
        rows.update({aid: (at, topic, sentiment) for aid, at, topic, sentiment in session.execute(stmt)})
        pairs = select(_ARTICLE_TICKERS.c.article_id, _ARTICLE_TICKERS.c.ticker).where(
            _ARTICLE_TICKERS.c.article_id.in_(chunk)
        )
        for aid, ticker in session.execute(pairs):
            tickers.setdefault(aid, []).append(ticker)
    return {
        aid: Counted(at, topic, sentiment, tuple(tickers.get(aid, ()))) for aid, (at, topic, sentiment) in rows.items()
    }


def apply(session: Session, added: Iterable[Counted], removed: Iterable[Counted] = ()) -> None:
    """Count ``added`` results in and ``removed`` ones out, in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    by_topic: Counter[tuple[object, str, int]] = Counter()
    by_ticker: Counter[tuple[object, str, int]] = Counter()
    for sign, results in ((1, added), (-1, removed)):
        for result in results:
            hour = hour_of(result.published_at, dialect)
            for column in (0, _SENTIMENT_INDEX[result.sentiment]):
                by_topic[(hour, result.topic, column)] += sign
                for ticker in result.tickers:
                    by_ticker[(hour, ticker, column)] += sign
    _upsert(session, _TOPICS, "topic", by_topic)
    _upsert(session, _TICKERS_ROLLUP, "ticker", by_ticker)


def _upsert(session: Session, table: Table, key: str, deltas: Counter[tuple[object, str, int]]) -> None:
    rows: dict[tuple[object, str], list[int]] = {}
    for (hour, name, column), delta in deltas.items():
        rows.setdefault((hour, name), [0, 0, 0, 0])[column] += delta
    changed = sorted((k, v) for k, v in rows.items() if any(v))  # sorted: one lock order for every writer
    if not changed:
        return
    if session.get_bind().dialect.name == "postgresql":  # one statement, not one per bucket
        bulk_pg.upsert_rollup(session, table.name, key, cast(bulk_pg.Deltas, changed))
        return
    insert = sqlite.insert(table)
    counts = ("total", "negative", "neutral", "positive")
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.bucket, table.c[key]],
        set_={name: table.c[name] + insert.excluded[name] for name in counts},
    )
    params = [{"bucket": hour, key: name, **dict(zip(counts, values, strict=True))} for (hour, name), values in changed]
    session.execute(stmt, params)


_BUCKET_SQL = {
    "postgresql": "date_trunc('hour', s.published_at AT TIME ZONE 'UTC')",
    "sqlite": "strftime('%Y-%m-%d %H:00:00', s.published_at)",
}
_COUNTS = """count(*),
    sum(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END)"""


def rebuild(session: Session) -> None:
    """Recompute the rollups of every hour that still has stored articles, from ``article_sentiment``.

    Hours older than the oldest stored article (pruned by ``monitor prune``) keep their counts: rollups
    outlive the articles they summarise.
    """
    dialect = session.get_bind().dialect.name
    oldest = session.scalar(select(func.min(article_sentiment.c.published_at)))
    if oldest is None:
        return
    # Whole hours only: prune cuts on an hour boundary, so the oldest stored hour is complete.
    since = oldest.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour = hour_of(since, dialect)
    bucket = _BUCKET_SQL[dialect]
    session.execute(delete(_TOPICS).where(_TOPICS.c.bucket >= first_hour))
    session.execute(delete(_TICKERS_ROLLUP).where(_TICKERS_ROLLUP.c.bucket >= first_hour))
    params = {"since": since if dialect == "postgresql" else since.strftime("%Y-%m-%d %H:%M:%S")}
    session.execute(
        text(
            f"""INSERT INTO sentiment_rollup_hourly (bucket, topic, total, negative, neutral, positive)
                SELECT {bucket}, s.topic, {_COUNTS}
                FROM article_sentiment AS s WHERE s.published_at >= :since GROUP BY 1, 2"""
        ),
        params,
    )
    session.execute(
        text(
            f"""INSERT INTO ticker_rollup_hourly (bucket, ticker, total, negative, neutral, positive)
                SELECT {bucket}, t.ticker, {_COUNTS}
                FROM article_sentiment AS s JOIN article_tickers AS t ON t.article_id = s.article_id
                WHERE s.published_at >= :since GROUP BY 1, 2"""
        ),
        params,
    )
