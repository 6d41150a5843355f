"""Writing batches and dead letters, and reading them back. Every function takes a ``Session`` and never commits:
the caller owns the transaction, so "store the batch, then commit Kafka offsets" is one decision (DESIGN §5.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.orm import Session

from consumers.article import Article
from model.prediction import Prediction
from storage import bulk, rollups, schema
from storage.schema import SENTIMENT_VALUES, article_sentiment, article_tickers, articles, classifications, dead_letters

# Each returns what it wrote as one value: {key: id} of the new articles, the article ids of new classifications,
# how many dead letters were new (a redelivered batch writes none; json_object_agg and array_agg of no rows are NULL).
_INSERT_ARTICLES = bulk.statement(articles, "ON CONFLICT (key) DO NOTHING RETURNING id, key",
                                  "SELECT json_object_agg(key, id) FROM written", generated=("id", "ingested_at"))
_INSERT_CLASSIFICATIONS = bulk.statement(classifications, "ON CONFLICT DO NOTHING RETURNING article_id",
                                         "SELECT array_agg(article_id) FROM written", generated=("id",))
_INSERT_TICKERS = bulk.statement(article_tickers, "ON CONFLICT DO NOTHING")
# NULLs are distinct: letters without a Kafka position (`monitor ingest`) are always stored.
_INSERT_DEAD_LETTERS = bulk.statement(
    dead_letters, "ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING RETURNING id",
    "SELECT count(*) FROM written", generated=("id", "created_at", "replayed_at"))
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


def store_batch(session: Session, items: Sequence[StoredItem], *, classified_at: datetime | None = None) -> int:
    """Store articles, their classifications and rollups; return how many articles were new. An article (key) or
    classification (article, model_version) already stored is left as it was, and a key repeated in the batch is
    stored once, first occurrence winning, so redelivery is harmless. ``classified_at`` defaults to now."""
    if not items:
        return 0
    first_by_key: dict[str, StoredItem] = {}
    predictions: dict[tuple[str, str], Prediction] = {}
    for item in items:
        first_by_key.setdefault(item.article.key, item)
        predictions.setdefault((item.article.key, item.prediction.model_version), item.prediction)
    # Deduplicated once (keep order) for articles.tickers and article_tickers, so the two never disagree.
    tickers = {key: tuple(dict.fromkeys(item.article.tickers)) for key, item in first_by_key.items()}

    rows = [_article_params(item, tickers[key]) for key, item in first_by_key.items()]
    new_ids: dict[str, int] = bulk.write(session, _INSERT_ARTICLES, rows) or {}
    ids = dict(new_ids)
    old_keys = [key for key in first_by_key if key not in new_ids]
    if old_keys:
        ids.update((key, article_id) for key, article_id in session.execute(_SELECT_IDS, {"keys": old_keys}))
    missing = [key for key in first_by_key if key not in ids]
    if missing:  # only if another transaction deleted them between our INSERT and SELECT
        raise RuntimeError(f"{len(missing)} article(s) vanished while storing the batch, e.g. {missing[0]!r}")

    # Tickers only for new articles: an existing article keeps the tickers of its first copy, like its row.
    pairs = [{"article_id": article_id, "ticker": t} for key, article_id in new_ids.items() for t in tickers[key]]
    if pairs:
        bulk.write(session, _INSERT_TICKERS, pairs)
    fresh = {article_id: (first_by_key[key].article.published_at, tickers[key]) for key, article_id in new_ids.items()}
    results = [(ids[key], prediction) for (key, _), prediction in predictions.items()]
    store_classifications(session, results, classified_at=classified_at, fresh=fresh)
    return len(new_ids)


def store_classifications(session: Session, results: Sequence[tuple[int, Prediction]], *,
                          classified_at: datetime | None = None,
                          fresh: Mapping[int, tuple[datetime, tuple[str, ...]]] | None = None) -> int:
    """Store (article id, prediction) results idempotently and keep the rollups exact; return how many were new.
    ``fresh``: articles this transaction inserted, with (published_at, tickers): their one result is current, so
    they are not read back (the daemon's case); any other's is counted out before the write and in after it."""
    if not results:
        return 0
    stamp = classified_at if classified_at is not None else datetime.now(UTC)
    fresh = fresh or {}
    per_article = Counter(article_id for article_id, _ in results)
    reread = {article_id for article_id, _ in results if article_id not in fresh or per_article[article_id] > 1}
    rollups.recount(session, reread, -1)
    rows = [_classification_params(article_id, prediction, stamp) for article_id, prediction in results]
    inserted = set(bulk.write(session, _INSERT_CLASSIFICATIONS, rows) or ())
    rollups.recount(session, reread, +1)
    rollups.add(session, [{"published_at": fresh[article_id][0], "topic": prediction.topic,
                           "sentiment": prediction.sentiment, "tickers": fresh[article_id][1]}
                          for article_id, prediction in results if article_id in inserted and article_id not in reread])
    return len(inserted)


def _article_params(item: StoredItem, tickers: tuple[str, ...]) -> dict[str, Any]:
    a = item.article
    return {"key": a.key, "external_id": a.id, "title": a.title, "body": a.body, "url": a.url, "source": a.source,
            "lang": a.lang, "published_at": a.published_at, "tickers": tickers, "extra": dict(a.extra),
            "kafka_topic": item.kafka_topic, "kafka_partition": item.kafka_partition, "kafka_offset": item.kafka_offset}


def _classification_params(article_id: int, prediction: Prediction, stamp: datetime) -> dict[str, Any]:
    probs = prediction.sentiment_probs
    # float(): the model's numpy scalars are not JSON serialisable.
    return {"article_id": article_id, "model_version": prediction.model_version, "topic": prediction.topic,
            "topic_score": float(prediction.topic_score), "sentiment": prediction.sentiment,
            "sentiment_score": float(prediction.sentiment_score), "highlights": list(prediction.highlights),
            "classified_at": stamp,
            **{f"p_{label}": None if probs.get(label) is None else float(probs[label]) for label in SENTIMENT_VALUES}}


def store_dead_letters(session: Session, letters: Sequence[DeadLetter]) -> int:
    """Store messages that failed validation; return how many were new (a redelivered one is stored once)."""
    if not letters:
        return 0
    rows = [{"raw": "\\x" + bytes(letter.raw).hex(), "raw_size": letter.raw_size,
             # PostgreSQL text cannot hold NUL, and an error message may quote the bad input; a dead letter
             # that cannot be stored would stop the stream it exists to protect. The raw bytes keep the NUL.
             "error": letter.error.replace("\x00", "\\x00"), "kafka_topic": letter.kafka_topic,
             "kafka_partition": letter.kafka_partition, "kafka_offset": letter.kafka_offset} for letter in letters]
    return int(bulk.write(session, _INSERT_DEAD_LETTERS, rows))


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    raw: bytes
    raw_size: int  # before the cap (MONITOR_DEAD_LETTER_MAX_BYTES)
    error: str
    kafka_topic: str | None
    kafka_partition: int | None
    kafka_offset: int | None
    created_at: datetime
    replayed_at: datetime | None

    @property
    def truncated(self) -> bool:
        """Only the first bytes were kept: the message cannot be rebuilt from the database."""
        return self.raw_size > len(self.raw)


_LETTERS = select(*schema.record_columns(dead_letters, StoredDeadLetter))
_pending = dead_letters.c.replayed_at.is_(None)


def recent_dead_letters(session: Session, *, limit: int, include_replayed: bool = False) -> list[StoredDeadLetter]:
    """The newest dead letters first (pending only, unless include_replayed)."""
    stmt = _LETTERS.order_by(dead_letters.c.id.desc()).limit(limit)
    return [StoredDeadLetter(*row) for row in session.execute(stmt if include_replayed else stmt.where(_pending))]


def pending_dead_letters(session: Session, after_id: int, *, limit: int) -> list[StoredDeadLetter]:
    """Not yet replayed, oldest first, id > after_id: a replay pages with it, so one that still fails is read once."""
    stmt = _LETTERS.where(_pending, dead_letters.c.id > after_id).order_by(dead_letters.c.id).limit(limit)
    return [StoredDeadLetter(*row) for row in session.execute(stmt)]


def mark_replayed(session: Session, ids: Sequence[int], at: datetime) -> int:
    """Stamp these letters as replayed (in the transaction that stores their articles, so a crash cannot leave an
    article stored and its letter pending); ones already stamped keep their first stamp. Returns how many changed."""
    stmt = update(dead_letters).where(dead_letters.c.id.in_(list(ids)), _pending).values(replayed_at=at)
    return int(session.execute(stmt).rowcount or 0) if ids else 0  # type: ignore[attr-defined]


def dead_letter_counts(session: Session) -> tuple[int, int]:
    """(pending, replayed)."""
    pending, replayed = session.execute(
        select(func.count().filter(_pending), func.count(dead_letters.c.replayed_at))).one()
    return int(pending), int(replayed)


# --- Reads for the demo's summary. Analysts use the views directly. ---


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(articles)) or 0


def sentiment_counts_by_topic(session: Session) -> list[tuple[str, int, int, int, int]]:
    """(topic, total, negative, neutral, positive) over current classifications, biggest topics first."""
    view = article_sentiment.c
    total = func.count()
    sums = (func.coalesce(func.sum(case((view.sentiment == label, 1), else_=0)), 0) for label in SENTIMENT_VALUES)
    stmt = select(view.topic, total, *sums).group_by(view.topic).order_by(total.desc(), view.topic)
    return [(topic, int(n), int(neg), int(neu), int(pos)) for topic, n, neg, neu, pos in session.execute(stmt)]


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
