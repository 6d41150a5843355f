"""PostgreSQL's fast path for ``store_batch``: one fixed statement per table, the batch bound as one JSON document.

Why not SQLAlchemy's executemany: for a batch of 1,000 articles it renders a multi-row
``INSERT ... VALUES (...), (...)`` of several hundred KB with 13,000 parameters, which PostgreSQL parses and
plans again for every batch (a different row count is a different statement). ``INSERT ... SELECT FROM
json_to_recordset(:rows)`` is the same text for every batch size, so psycopg prepares it once per connection.
Why one JSON document rather than one array per column: psycopg escapes array elements in Python (about
1 us each), while orjson and PostgreSQL's JSON parser are C. Measured with
``python -m bench.e2e --modes noop``: see the README performance table.

The semantics are those of ``repository.store_batch`` (which calls this): idempotent upserts keyed on
``articles.key``; rows are inserted in batch order so ids follow Kafka order. Text never holds NUL here:
the decoder rejects it (PostgreSQL text cannot store it, and JSON's \\u0000 would not convert either).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

# WITH ORDINALITY + ORDER BY: ids (and so "first stored" ties) follow the batch's order, like the row-wise path.
_INSERT_ARTICLES = text(
    """
    WITH inserted AS (
    INSERT INTO articles (key, external_id, title, body, url, source, lang, published_at, tickers, extra,
                          kafka_topic, kafka_partition, kafka_offset)
    SELECT key, external_id, title, body, url, source, lang, published_at, tickers, extra,
           kafka_topic, kafka_partition, kafka_offset
    FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS (
        key text, external_id text, title text, body text, url text, source text, lang text,
        published_at timestamptz, tickers jsonb, extra jsonb,
        kafka_topic text, kafka_partition integer, kafka_offset bigint)) WITH ORDINALITY AS batch
    ORDER BY batch.ordinality
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key
    )
    SELECT json_object_agg(key, id) FROM inserted
    """
)

_SELECT_IDS = text("SELECT key, id FROM articles WHERE key = ANY(CAST(:keys AS text[]))")

# RETURNING: the rows actually inserted (a redelivered batch inserts none), as one array.
_INSERT_CLASSIFICATIONS = text(
    """
    WITH inserted AS (
    INSERT INTO classifications (article_id, model_version, topic, topic_score, sentiment, sentiment_score,
                                 p_negative, p_neutral, p_positive, highlights, classified_at)
    SELECT article_id, model_version, topic, topic_score, sentiment, sentiment_score,
           p_negative, p_neutral, p_positive, highlights, classified_at
    FROM json_to_recordset(CAST(:rows AS json)) AS batch(
        article_id bigint, model_version text, topic text, topic_score float8, sentiment text,
        sentiment_score float8, p_negative float8, p_neutral float8, p_positive float8, highlights jsonb,
        classified_at timestamptz)
    ON CONFLICT (article_id, model_version) DO NOTHING
    RETURNING article_id
    )
    SELECT array_agg(article_id) FROM inserted
    """
)

_INSERT_TICKERS = text(
    """
    INSERT INTO article_tickers (article_id, ticker)
    SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS batch(article_id bigint, ticker text)
    ON CONFLICT DO NOTHING
    """
)


# Rollup deltas, in the caller's (sorted) order so every writer takes the row locks in one order.
_UPSERT_ROLLUP = """
    INSERT INTO {table} (bucket, {key}, total, negative, neutral, positive)
    SELECT bucket, {key}, total, negative, neutral, positive
    FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS (
        bucket timestamp, {key} text, total bigint, negative bigint, neutral bigint, positive bigint))
        WITH ORDINALITY AS batch
    ORDER BY batch.ordinality
    ON CONFLICT (bucket, {key}) DO UPDATE SET
        total = {table}.total + excluded.total, negative = {table}.negative + excluded.negative,
        neutral = {table}.neutral + excluded.neutral, positive = {table}.positive + excluded.positive
    """
_UPSERT_ROLLUPS = {
    ("sentiment_rollup_hourly", "topic"): text(_UPSERT_ROLLUP.format(table="sentiment_rollup_hourly", key="topic")),
    ("ticker_rollup_hourly", "ticker"): text(_UPSERT_ROLLUP.format(table="ticker_rollup_hourly", key="ticker")),
}


def _document(rows: Sequence[Mapping[str, Any]]) -> str:
    # orjson: 4.3 against 10.7 us per article (article + classification rows) for the standard library,
    # which was the writer thread's largest cost.
    # Datetimes still go through _aware_isoformat (it refuses naive ones).
    try:
        return orjson.dumps(rows, default=_aware_isoformat, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except orjson.JSONEncodeError:
        # what orjson refuses and JSON allows: integers beyond 64 bits in a message's unknown fields (extra)
        return json.dumps(rows, default=_aware_isoformat, ensure_ascii=False, separators=(",", ":"))


def _aware_isoformat(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"cannot store {type(value).__name__} as JSON")
    # The row-wise path refuses naive datetimes in UTCDateTime; this one bypasses that type, so check here:
    # PostgreSQL would read a naive value in the server's time zone and shift buckets silently.
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware datetimes")
    return value.isoformat()


def insert_articles(session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert the articles not stored yet; return {key: id} of those inserted."""
    inserted: dict[str, int] | None = session.execute(_INSERT_ARTICLES, {"rows": _document(rows)}).scalar_one()
    return inserted or {}  # json_object_agg of no rows is NULL


def ids_for_keys(session: Session, keys: Sequence[str]) -> dict[str, int]:
    return {key: article_id for key, article_id in session.execute(_SELECT_IDS, {"keys": list(keys)})}


def insert_classifications(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert classifications not stored yet; return the article id of each one inserted."""
    inserted: list[int] | None = session.execute(_INSERT_CLASSIFICATIONS, {"rows": _document(rows)}).scalar_one()
    return inserted or []


def insert_tickers(session: Session, pairs: Sequence[tuple[int, str]]) -> None:
    rows = [{"article_id": article_id, "ticker": ticker} for article_id, ticker in pairs]
    session.execute(_INSERT_TICKERS, {"rows": _document(rows)})


Deltas = Sequence[tuple[tuple[datetime, str], list[int]]]  # ((UTC hour, key), [total, negative, neutral, positive])


def upsert_rollup(session: Session, table: str, key: str, changed: Deltas) -> None:
    """Add the deltas to a rollup table, in the given order."""
    rows = [
        {"bucket": hour.isoformat(), key: name, "total": c[0], "negative": c[1], "neutral": c[2], "positive": c[3]}
        for (hour, name), c in changed
    ]
    session.execute(_UPSERT_ROLLUPS[(table, key)], {"rows": _document(rows)})
