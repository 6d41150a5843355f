"""PostgreSQL's fast path for ``store_batch``: one fixed statement per table, the batch bound as one JSON document.

Why not SQLAlchemy's executemany: for a batch of 1,000 articles it renders a multi-row
``INSERT ... VALUES (...), (...)`` of several hundred KB with 13,000 parameters, which PostgreSQL parses and
plans again for every batch (a different row count is a different statement). ``INSERT ... SELECT FROM
json_to_recordset(:rows)`` is the same text for every batch size, so psycopg prepares it once per connection.
Why one JSON document rather than one array per column: psycopg escapes array elements in Python (about
1 us each), while ``json.dumps`` and PostgreSQL's JSON parser are C. Measured with
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

from sqlalchemy import text
from sqlalchemy.orm import Session

# WITH ORDINALITY + ORDER BY: ids (and so "first stored" ties) follow the batch's order, like the row-wise path.
_INSERT_ARTICLES = text(
    """
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
    """
)

_SELECT_IDS = text("SELECT key, id FROM articles WHERE key = ANY(CAST(:keys AS text[]))")

# RETURNING: the rows actually inserted (a redelivered batch inserts none).
_INSERT_CLASSIFICATIONS = text(
    """
    INSERT INTO classifications (article_id, model_version, topic, topic_score, sentiment, sentiment_score,
                                 p_negative, p_neutral, p_positive, highlights, classified_at)
    SELECT article_id, model_version, topic, topic_score, sentiment, sentiment_score,
           p_negative, p_neutral, p_positive, highlights, classified_at
    FROM json_to_recordset(CAST(:rows AS json)) AS batch(
        article_id bigint, model_version text, topic text, topic_score float8, sentiment text,
        sentiment_score float8, p_negative float8, p_neutral float8, p_positive float8, highlights jsonb,
        classified_at timestamptz)
    ON CONFLICT (article_id, model_version) DO NOTHING
    RETURNING id, article_id
    """
)

_INSERT_TICKERS = text(
    """
    INSERT INTO article_tickers (article_id, ticker)
    SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS batch(article_id bigint, ticker text)
    ON CONFLICT DO NOTHING
    """
)


def _document(rows: Sequence[Mapping[str, Any]]) -> str:
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
    return {key: article_id for article_id, key in session.execute(_INSERT_ARTICLES, {"rows": _document(rows)})}


def ids_for_keys(session: Session, keys: Sequence[str]) -> dict[str, int]:
    return {key: article_id for key, article_id in session.execute(_SELECT_IDS, {"keys": list(keys)})}


def insert_classifications(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Insert classifications not stored yet; return (classification id, article id) of those inserted."""
    return [(cid, aid) for cid, aid in session.execute(_INSERT_CLASSIFICATIONS, {"rows": _document(rows)})]


def insert_tickers(session: Session, pairs: Sequence[tuple[int, str]]) -> None:
    rows = [{"article_id": article_id, "ticker": ticker} for article_id, ticker in pairs]
    session.execute(_INSERT_TICKERS, {"rows": _document(rows)})
