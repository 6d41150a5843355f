"""Hourly rollups: exact per-hour sentiment counts of every article's current classification.

``sentiment_hourly`` and ``ticker_sentiment_hourly`` read ``sentiment_rollup_hourly`` and ``ticker_rollup_hourly``
(migration 0004) instead of grouping the whole history, so 30 days answer in milliseconds at 10 million articles.
``add`` and ``recount`` keep them exact in the transaction that stores each batch; ``rebuild`` recomputes them after
``monitor model use``. A property test checks that they equal ``article_sentiment`` grouped by hour.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import TextClause, delete, func, select, text
from sqlalchemy.orm import Session

from storage import bulk
from storage.schema import SENTIMENT_VALUES, article_sentiment, sentiment_rollup_hourly, ticker_rollup_hourly

# The hour an article counts in, as sentiment_hourly shows it: UTC wall time without a zone.
BUCKET = "date_trunc('hour', s.published_at AT TIME ZONE 'UTC')"
_COUNTS = "sum(s.delta), " + ", ".join(f"sum(CASE WHEN s.sentiment = '{v}' THEN s.delta ELSE 0 END)"
                                       for v in SENTIMENT_VALUES)


def _statement(source: str) -> TextClause:
    """Add the results of ``source`` (published_at, topic, sentiment, tickers as a JSON array, delta: +1 counts a
    result in, -1 out) to both tables in one statement. Rows are upserted in key order (ORDER BY), so two daemons
    storing overlapping hours cannot deadlock."""
    def upsert(table: str, key: str, value: str, join: str = "") -> str:
        add = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ("total", *SENTIMENT_VALUES))
        return (f"INSERT INTO {table} (bucket, {key}, total, negative, neutral, positive) "
                f"SELECT {BUCKET}, {value}, {_COUNTS} FROM s {join} GROUP BY 1, 2 ORDER BY 1, 2 "
                f"ON CONFLICT (bucket, {key}) DO UPDATE SET {add}")

    # articles.tickers holds exactly the article's article_tickers rows (storage.repository writes both alike).
    tickers = upsert("ticker_rollup_hourly", "ticker", "t.ticker",
                     "CROSS JOIN LATERAL jsonb_array_elements_text(s.tickers) AS t(ticker)")
    topics = upsert("sentiment_rollup_hourly", "topic", "s.topic")
    return text(f"WITH s AS MATERIALIZED ({source}), topics AS ({topics}) {tickers}")


_ADD = _statement("SELECT *, 1 AS delta FROM json_to_recordset(CAST(:rows AS json)) "
                  "AS (published_at timestamptz, topic text, sentiment text, tickers jsonb)")
_RECOUNT = _statement("SELECT published_at, topic, sentiment, tickers, CAST(:delta AS int) AS delta "
                      "FROM article_sentiment WHERE article_id = ANY(CAST(:ids AS bigint[]))")
_REBUILD = _statement("SELECT published_at, topic, sentiment, tickers, 1 AS delta FROM article_sentiment "
                      "WHERE published_at >= :since")


def add(session: Session, results: Sequence[Mapping[str, Any]]) -> None:
    """Count in new current results (published_at, topic, sentiment, tickers) known without reading them back."""
    if results:
        bulk.write(session, _ADD, results)


def recount(session: Session, article_ids: Collection[int], delta: int) -> None:
    """Count the current results of these articles out (-1) or in (+1): around a write that may change them."""
    if article_ids:
        session.execute(_RECOUNT, {"ids": list(article_ids), "delta": delta})


def rebuild(session: Session) -> None:
    """Recompute the rollups of every hour that still has stored articles, from ``article_sentiment``. Older
    hours (pruned by ``monitor prune``) keep their counts: rollups outlive the articles they summarise."""
    oldest = session.scalar(select(func.min(article_sentiment.c.published_at)))
    if oldest is None:
        return
    # Whole hours only: prune cuts on an hour boundary, so the oldest stored hour is complete.
    since = oldest.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for rollup in (sentiment_rollup_hourly, ticker_rollup_hourly):
        session.execute(delete(rollup).where(rollup.c.bucket >= since.replace(tzinfo=None)))
    session.execute(_REBUILD, {"since": since})
