"""Hourly rollups (migration 0004; the hourly views read them): exact per-hour sentiment counts of every article's
current classification, kept in the transaction that stores each batch; a property test checks them."""

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
    """Add ``source``'s (published_at, topic, sentiment, tickers JSON, delta: +1 in, -1 out) to both tables, upserted
    in key order (ORDER BY), so two daemons storing overlapping hours cannot deadlock."""
    def upsert(table: str, key: str, value: str, join: str = "") -> str:
        add = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ("total", *SENTIMENT_VALUES))
        return (f"INSERT INTO {table} (bucket, {key}, total, negative, neutral, positive) "
                f"SELECT {BUCKET}, {value}, {_COUNTS} FROM s {join} GROUP BY 1, 2 ORDER BY 1, 2 "
                f"ON CONFLICT (bucket, {key}) DO UPDATE SET {add}")

    tickers = upsert("ticker_rollup_hourly", "ticker", "t.ticker",
                     "CROSS JOIN LATERAL jsonb_array_elements_text(s.tickers) AS t(ticker)")
    topics = upsert("sentiment_rollup_hourly", "topic", "s.topic")
    return text(f"WITH s AS MATERIALIZED ({source}), topics AS ({topics}) {tickers}")


_ADD = _statement("SELECT *, 1 AS delta FROM json_to_recordset(CAST(:rows AS json)) "
                  "AS (published_at timestamptz, topic text, sentiment text, tickers jsonb)")
# Stored results take their tickers from article_tickers, the table of record: rows loaded with plain SQL (then
# `monitor db rebuild-rollups`) may leave articles.tickers empty. New ones bring theirs in :rows, with no lookup.
_STORED = ("SELECT published_at, topic, sentiment, {delta} AS delta, (SELECT jsonb_agg(t.ticker) FROM article_tickers "
           "AS t WHERE t.article_id = a.article_id) AS tickers FROM article_sentiment AS a WHERE ")
_RECOUNT = _statement(_STORED.format(delta="CAST(:delta AS int)") + "article_id = ANY(CAST(:ids AS bigint[]))")
_REBUILD = _statement(_STORED.format(delta="1") + "published_at >= :since")


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
