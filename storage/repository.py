"""Writing batches and reading results back.

Every function takes a ``Session`` and never commits: the caller owns the transaction (one per batch), so
"store the batch, then commit Kafka offsets" stays one decision in one place (DESIGN §5.2).

Writes are idempotent upserts keyed on ``Article.key`` because Kafka redelivers: storing the same batch
twice changes nothing. They are bulk statements, never one round trip per row: one fixed
``INSERT ... SELECT FROM json_to_recordset(:rows)`` per table (storage/bulk.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from consumers.article import Article
from model.prediction import Prediction
from storage import bulk, rollups
from storage.schema import (
    ArticleRow,
    ArticleTickerRow,
    ClassificationRow,
    DeadLetterRow,
    article_sentiment,
)

_ARTICLES = cast(Table, ArticleRow.__table__)
_CLASSIFICATIONS = cast(Table, ClassificationRow.__table__)
_ARTICLE_TICKERS = cast(Table, ArticleTickerRow.__table__)
_DEAD_LETTERS = cast(Table, DeadLetterRow.__table__)

_SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")  # the order of the read helpers

# Each returns what it wrote as one value: {key: id} of the new articles, the article ids of new classifications
# (a redelivered batch writes none; json_object_agg and array_agg of no rows are NULL).
_INSERT_ARTICLES = bulk.statement(_ARTICLES, "ON CONFLICT (key) DO NOTHING RETURNING id, key",
                                  "SELECT json_object_agg(key, id) FROM written", generated=("id", "ingested_at"))
_INSERT_CLASSIFICATIONS = bulk.statement(_CLASSIFICATIONS, "ON CONFLICT DO NOTHING RETURNING article_id",
                                         "SELECT array_agg(article_id) FROM written", generated=("id",))
_INSERT_TICKERS = bulk.statement(_ARTICLE_TICKERS, "ON CONFLICT DO NOTHING")
_SELECT_IDS = text("SELECT key, id FROM articles WHERE key = ANY(CAST(:keys AS text[]))")  # one text, any count


@dataclass(slots=True)
class StoredItem:
    """One classified article and where it came from (positions are NULL for `monitor ingest`)."""

    article: Article
    prediction: Prediction
    kafka_topic: str | None = None
    kafka_partition: int | None = None
    kafka_offset: int | None = None


@dataclass(slots=True)
class DeadLetter:
    """A message that failed validation. ``raw`` is already truncated; ``raw_size`` is the original size."""

    raw: bytes
    error: str
    raw_size: int
    kafka_topic: str | None = None
    kafka_partition: int | None = None
    kafka_offset: int | None = None


def store_batch(
    session: Session, items: Sequence[StoredItem], *, classified_at: datetime | None = None
) -> int:
    """Store articles and their classifications; return how many articles were new.

    Idempotent: an article already stored (same key) is left as it was, and a classification already
    stored for (article, model_version) is left as it was, so redelivery and restarts are harmless. A
    key repeated inside the batch is stored once (first occurrence wins, as it would across batches).

    ``classified_at`` (default: now) stamps every classification in the batch; the newest stamp is an
    article's current result in ``article_sentiment`` unless ``current_model`` prefers another version.
    The hourly rollups move in the same transaction.
    """
    if not items:
        return 0
    stamp = classified_at if classified_at is not None else datetime.now(UTC)

    first_by_key: dict[str, StoredItem] = {}
    predictions: dict[tuple[str, str], Prediction] = {}
    for item in items:
        first_by_key.setdefault(item.article.key, item)
        predictions.setdefault((item.article.key, item.prediction.model_version), item.prediction)

    rows = [_article_params(item) for item in first_by_key.values()]
    new_ids: dict[str, int] = bulk.write(session, _INSERT_ARTICLES, rows) or {}
    ids = dict(new_ids)
    old_keys = [key for key in first_by_key if key not in new_ids]
    if old_keys:
        ids.update((key, article_id) for key, article_id in session.execute(_SELECT_IDS, {"keys": old_keys}))
    missing = [key for key in first_by_key if key not in ids]
    if missing:  # only if another transaction deleted them between our INSERT and SELECT
        raise RuntimeError(f"{len(missing)} article(s) vanished while storing the batch, e.g. {missing[0]!r}")

    # Tickers only for new articles: an existing article keeps the tickers of its first copy, like its row.
    ticker_pairs = [
        (article_id, ticker)
        for key, article_id in new_ids.items()
        for ticker in dict.fromkeys(first_by_key[key].article.tickers)  # dedupe, keep order
    ]
    if ticker_pairs:
        bulk.write(session, _INSERT_TICKERS, [{"article_id": a, "ticker": t} for a, t in ticker_pairs])

    fresh = {
        article_id: (first_by_key[key].article.published_at, tuple(dict.fromkeys(first_by_key[key].article.tickers)))
        for key, article_id in new_ids.items()
    }
    results = [(ids[key], prediction) for (key, _), prediction in predictions.items()]
    store_classifications(session, results, classified_at=stamp, fresh=fresh)
    return len(new_ids)


def store_classifications(
    session: Session,
    results: Sequence[tuple[int, Prediction]],
    *,
    classified_at: datetime | None = None,
    fresh: Mapping[int, tuple[datetime, tuple[str, ...]]] | None = None,
) -> int:
    """Store (article id, prediction) results for stored articles and keep the hourly rollups exact.

    Idempotent per (article, model_version). Returns how many classifications were new. ``fresh`` maps
    articles inserted by this transaction to (published_at, tickers): their one result is certainly their
    current one, which spares reading them back (the daemon's common case). Any other article's current
    result is read before and after, and the rollups move by the difference (storage/rollups.py).
    """
    if not results:
        return 0
    stamp = classified_at if classified_at is not None else datetime.now(UTC)
    fresh = fresh or {}
    per_article = Counter(article_id for article_id, _ in results)
    reread = {article_id for article_id, _ in results if article_id not in fresh or per_article[article_id] > 1}
    before = rollups.current_results(session, reread) if reread else {}

    rows = [_classification_params(article_id, prediction, stamp) for article_id, prediction in results]
    inserted: list[int] = bulk.write(session, _INSERT_CLASSIFICATIONS, rows) or []

    changed = set(inserted)
    added = [
        rollups.Counted(fresh[article_id][0], prediction.topic, prediction.sentiment, fresh[article_id][1])
        for article_id, prediction in results
        if article_id in changed and article_id not in reread
    ]
    removed: list[rollups.Counted] = []
    if reread & changed:
        after = rollups.current_results(session, reread & changed)
        added.extend(after.values())
        removed = [before[article_id] for article_id in after if article_id in before]
    rollups.apply(session, added, removed)
    return len(inserted)


def _article_params(item: StoredItem) -> dict[str, Any]:
    article = item.article
    return {
        "key": article.key,
        "external_id": article.id,
        "title": article.title,
        "body": article.body,
        "url": article.url,
        "source": article.source,
        "lang": article.lang,
        "published_at": article.published_at,
        # Deduplicated like article_tickers, so the two never disagree.
        "tickers": list(dict.fromkeys(article.tickers)),
        "extra": dict(article.extra),
        "kafka_topic": item.kafka_topic,
        "kafka_partition": item.kafka_partition,
        "kafka_offset": item.kafka_offset,
    }


def _classification_params(article_id: int, prediction: Prediction, stamp: datetime) -> dict[str, Any]:
    probs = prediction.sentiment_probs
    return {
        "article_id": article_id,
        "model_version": prediction.model_version,
        "topic": prediction.topic,
        "topic_score": float(prediction.topic_score),
        "sentiment": prediction.sentiment,
        "sentiment_score": float(prediction.sentiment_score),
        "p_negative": _float_or_none(probs.get("negative")),
        "p_neutral": _float_or_none(probs.get("neutral")),
        "p_positive": _float_or_none(probs.get("positive")),
        "highlights": list(prediction.highlights),
        "classified_at": stamp,
    }


def _float_or_none(value: float | None) -> float | None:
    # float(): numpy scalars from the model are not JSON/driver friendly everywhere.
    return None if value is None else float(value)


def store_dead_letters(session: Session, letters: Sequence[DeadLetter]) -> int:
    """Store messages that failed validation; return how many were new.

    A redelivered message (same topic, partition, offset) is stored once. Letters without a Kafka
    position (``monitor ingest``) are always stored.
    """
    if not letters:
        return 0
    stmt = (
        postgresql.insert(_DEAD_LETTERS)
        .on_conflict_do_nothing(
            index_elements=[
                _DEAD_LETTERS.c.kafka_topic,
                _DEAD_LETTERS.c.kafka_partition,
                _DEAD_LETTERS.c.kafka_offset,
            ]
        )
        .returning(_DEAD_LETTERS.c.id)
    )
    params = [
        {
            "raw": bytes(letter.raw),
            "raw_size": letter.raw_size,
            # PostgreSQL text cannot hold NUL, and an error message may quote the bad input; a dead letter
            # that cannot be stored would stop the stream it exists to protect. The raw bytes keep the NUL.
            "error": letter.error.replace("\x00", "\\x00"),
            "kafka_topic": letter.kafka_topic,
            "kafka_partition": letter.kafka_partition,
            "kafka_offset": letter.kafka_offset,
        }
        for letter in letters
    ]
    return len(session.execute(stmt, params).all())


# --- Reads: small helpers for the demo, the CLI and tests. Analysts use the views directly. ---


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_ARTICLES)) or 0


def count_classifications(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_CLASSIFICATIONS)) or 0


def count_dead_letters(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_DEAD_LETTERS)) or 0


def sentiment_counts_by_topic(session: Session) -> list[tuple[str, int, int, int, int]]:
    """(topic, total, negative, neutral, positive) over current classifications, biggest topics first."""
    view = article_sentiment.c
    total = func.count()
    stmt = (
        select(
            view.topic,
            total,
            *(func.sum(case((view.sentiment == label, 1), else_=0)) for label in _SENTIMENTS),
        )
        .group_by(view.topic)
        .order_by(total.desc(), view.topic)
    )
    return [
        (topic, int(n), int(neg or 0), int(neu or 0), int(pos or 0))
        for topic, n, neg, neu, pos in session.execute(stmt)
    ]


def most_negative(session: Session, limit: int) -> list[tuple[str, str | None, float]]:
    """(title, source, p_negative) of the articles most confidently negative right now."""
    view = article_sentiment.c
    stmt = (
        # For a negative article sentiment_score *is* p(negative); it stands in when probs were not stored.
        select(view.title, view.source, func.coalesce(view.p_negative, view.sentiment_score))
        .where(view.sentiment == "negative")
        .order_by(view.sentiment_score.desc(), view.article_id)
        .limit(limit)
    )
    return [(title, source, float(p)) for title, source, p in session.execute(stmt)]


def duplicate_keys(session: Session) -> int:
    """How many keys are stored more than once. Always 0 while uq_articles_key exists; a test aid."""
    repeated = select(_ARTICLES.c.key).group_by(_ARTICLES.c.key).having(func.count() > 1).subquery()
    return session.scalar(select(func.count()).select_from(repeated)) or 0


def tickers_of(session: Session, article_keys: Iterable[str]) -> dict[str, list[str]]:
    """Stored tickers per article key, from article_tickers (sorted). A test and debugging aid."""
    keys = list(article_keys)
    found: dict[str, list[str]] = {key: [] for key in keys}
    stmt = (
        select(_ARTICLES.c.key, _ARTICLE_TICKERS.c.ticker)
        .join(_ARTICLE_TICKERS, _ARTICLE_TICKERS.c.article_id == _ARTICLES.c.id)
        .where(_ARTICLES.c.key.in_(keys))
        .order_by(_ARTICLES.c.key, _ARTICLE_TICKERS.c.ticker)
    )
    for key, ticker in session.execute(stmt):
        found[key].append(ticker)
    return found
