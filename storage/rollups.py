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
from sqlalchemy.orm import Session

from storage import bulk
from storage.schema import ArticleTickerRow, SentimentRollupRow, TickerRollupRow, article_sentiment

_TOPICS = cast(Table, SentimentRollupRow.__table__)
_TICKERS_ROLLUP = cast(Table, TickerRollupRow.__table__)
_ARTICLE_TICKERS = cast(Table, ArticleTickerRow.__table__)

_COUNT_COLUMNS = ("total", "negative", "neutral", "positive")
_UPSERTS = {
    table.name: bulk.statement(table, f"ON CONFLICT (bucket, {key}) DO UPDATE SET " + ", ".join(
        f"{c} = {table.name}.{c} + excluded.{c}" for c in _COUNT_COLUMNS))
    for table, key in ((_TOPICS, "topic"), (_TICKERS_ROLLUP, "ticker"))
}
_SENTIMENT_INDEX = {"negative": 1, "neutral": 2, "positive": 3}  # position in (total, negative, neutral, positive)


@dataclass(frozen=True, slots=True)
class Counted:
    """One article's current result, as the rollups count it."""

    published_at: datetime
    topic: str
    sentiment: str
    tickers: tuple[str, ...]


def hour_of(published_at: datetime) -> datetime:
    """The rollup bucket: the UTC hour, naive (a `timestamp` column, as `date_trunc` of UTC time gives it)."""
    return published_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)


def current_results(session: Session, article_ids: Collection[int]) -> dict[int, Counted]:
    """The current result (per ``article_sentiment``) of each article that has one."""
    ids = list(article_ids)
    view = article_sentiment.c
    stmt = select(view.article_id, view.published_at, view.topic, view.sentiment).where(view.article_id.in_(ids))
    rows = {aid: (at, topic, sentiment) for aid, at, topic, sentiment in session.execute(stmt)}
    tickers: dict[int, list[str]] = {}
    pairs = select(_ARTICLE_TICKERS.c.article_id, _ARTICLE_TICKERS.c.ticker).where(
        _ARTICLE_TICKERS.c.article_id.in_(ids))
    for aid, ticker in session.execute(pairs):
        tickers.setdefault(aid, []).append(ticker)
    return {
        aid: Counted(at, topic, sentiment, tuple(tickers.get(aid, ()))) for aid, (at, topic, sentiment) in rows.items()
    }


def apply(session: Session, added: Iterable[Counted], removed: Iterable[Counted] = ()) -> None:
    """Count ``added`` results in and ``removed`` ones out, in the caller's transaction."""
    by_topic: Counter[tuple[datetime, str, int]] = Counter()
    by_ticker: Counter[tuple[datetime, str, int]] = Counter()
    for sign, results in ((1, added), (-1, removed)):
        for result in results:
            hour = hour_of(result.published_at)
            for column in (0, _SENTIMENT_INDEX[result.sentiment]):
                by_topic[(hour, result.topic, column)] += sign
                for ticker in result.tickers:
                    by_ticker[(hour, ticker, column)] += sign
    _upsert(session, _TOPICS, "topic", by_topic)
    _upsert(session, _TICKERS_ROLLUP, "ticker", by_ticker)


def _upsert(session: Session, table: Table, key: str, deltas: Counter[tuple[datetime, str, int]]) -> None:
    summed: dict[tuple[datetime, str], list[int]] = {}
    for (hour, name, column), delta in deltas.items():
        summed.setdefault((hour, name), [0, 0, 0, 0])[column] += delta
    changed = sorted((k, v) for k, v in summed.items() if any(v))  # sorted: one lock order for every writer
    if not changed:
        return
    rows = [{"bucket": hour.isoformat(), key: name, **dict(zip(_COUNT_COLUMNS, counts, strict=True))}
            for (hour, name), counts in changed]
    bulk.write(session, _UPSERTS[table.name], rows)  # one statement per table, rows in the sorted order


_BUCKET_SQL = "date_trunc('hour', s.published_at AT TIME ZONE 'UTC')"
_COUNTS = """count(*),
    sum(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END)"""


def rebuild(session: Session) -> None:
    """Recompute the rollups of every hour that still has stored articles, from ``article_sentiment``.

    Hours older than the oldest stored article (pruned by ``monitor prune``) keep their counts: rollups
    outlive the articles they summarise.
    """
    oldest = session.scalar(select(func.min(article_sentiment.c.published_at)))
    if oldest is None:
        return
    # Whole hours only: prune cuts on an hour boundary, so the oldest stored hour is complete.
    since = oldest.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour = hour_of(since)
    bucket = _BUCKET_SQL
    session.execute(delete(_TOPICS).where(_TOPICS.c.bucket >= first_hour))
    session.execute(delete(_TICKERS_ROLLUP).where(_TICKERS_ROLLUP.c.bucket >= first_hour))
    params = {"since": since}
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
