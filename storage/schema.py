"""The monitor's tables as SQLAlchemy Core ``Table`` objects: the current shape of the schema.

The Alembic migrations in ``storage/migrations/versions`` are frozen snapshots of how the database got there
(they never import this module); ``tests/integration/test_storage.py`` checks that the two agree. The views are
created by the migrations in SQL; ``article_sentiment`` is described here too, in its own ``MetaData`` so that
``create_all`` and autogenerate never take it for a table, so that code can query it with Core expressions.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SENTIMENT_VALUES: tuple[str, ...] = ("negative", "neutral", "positive")


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused: PostgreSQL would read it in the server's time zone and shift
    buckets silently."""
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware datetimes")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamptz that refuses naive datetimes on the way in (``utc``) and is timezone-aware on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def record_columns(table: Table, record: type) -> list[Column[Any]]:
    """The columns of ``table`` named like the fields of the dataclass ``record``, in its order: ``record(*row)``."""
    return [table.c[f.name] for f in fields(record)]


def _stamp(name: str) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=False, server_default=func.now())


def _kafka_position() -> list[Column[object]]:  # where it came from; NULL for `monitor ingest` (a file)
    return [Column("kafka_topic", Text), Column("kafka_partition", Integer), Column("kafka_offset", BigInteger)]


def _counts() -> list[Column[int]]:
    return [Column(name, BigInteger, nullable=False) for name in ("total", *SENTIMENT_VALUES)]


# Names for the constraints left unnamed, matching the ones the migrations spell out, so a schema made by
# create_all() and one made by the migrations are the same. bigint ids: offsets and article counts outgrow int4.
# JSONB: analysts can use ?, @> and GIN indexes.
metadata = MetaData(naming_convention={
    "pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s", "ix": "ix_%(table_name)s_%(column_0_N_name)s",
})

# One row per idempotency key (DESIGN §3), however often Kafka redelivers the article.
articles = Table(
    "articles", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("external_id", Text),  # the message's own ``id`` field, if it had one
    Column("title", Text, nullable=False),
    Column("body", Text),
    Column("url", Text),
    Column("source", Text),
    Column("lang", Text),
    Column("published_at", UTCDateTime(), nullable=False),
    # Denormalised copy of article_tickers, so one row reads back as the whole message.
    Column("tickers", JSONB, nullable=False, server_default=text("'[]'")),
    Column("extra", JSONB, nullable=False, server_default=text("'{}'")),
    _stamp("ingested_at"),
    *_kafka_position(),
    UniqueConstraint("key", name="uq_articles_key"),
    Index("ix_articles_published_at", "published_at"),
)

# One model version's answer for one article. A new version adds rows and never overwrites, so old alerts stay
# explainable; an article's current result is chosen by the article_sentiment view (current_model).
classifications = Table(
    "classifications", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("article_id", BigInteger, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("model_version", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("topic_score", Float, nullable=False),
    Column("sentiment", Text, nullable=False),
    Column("sentiment_score", Float, nullable=False),
    *(Column(f"p_{v}", Float) for v in SENTIMENT_VALUES),  # NULL: a Prediction without its probabilities
    Column("highlights", JSONB, nullable=False, server_default=text("'[]'")),
    _stamp("classified_at"),
    # article_sentiment finds an article's rows through this constraint's index (article_id first).
    UniqueConstraint("article_id", "model_version", name="uq_classifications_article_model"),
    CheckConstraint("sentiment IN ('negative', 'neutral', 'positive')", name="ck_classifications_sentiment"),
    Index("ix_classifications_model_topic_sentiment", "model_version", "topic", "sentiment"),
)

# One (article, ticker) pair, so per-ticker SQL is a plain join instead of a JSON search.
article_tickers = Table(
    "article_tickers", metadata,
    Column("article_id", BigInteger, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("ticker", Text, primary_key=True),
    Index("ix_article_tickers_ticker", "ticker"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("raw", LargeBinary, nullable=False),  # truncated by the caller
    Column("raw_size", Integer, nullable=False),  # before truncation
    Column("error", Text, nullable=False),
    *_kafka_position(),
    _stamp("created_at"),
    Column("replayed_at", UTCDateTime()),  # set by `monitor deadletters replay` when the message passed
    # A redelivered bad message is stored once; NULLs are distinct, so `monitor ingest`'s never collide.
    UniqueConstraint("kafka_topic", "kafka_partition", "kafka_offset", name="uq_dead_letters_kafka_position"),
)

# Per UTC hour (naive: sentiment_hourly's bucket) and topic or ticker: the sentiment counts of every article's
# current result, kept by storage/rollups.py in the transaction that stores each batch. Pruning keeps them.
sentiment_rollup_hourly = Table(
    "sentiment_rollup_hourly", metadata,
    Column("bucket", DateTime(timezone=False), primary_key=True),
    Column("topic", Text, primary_key=True),
    *_counts(),
)
ticker_rollup_hourly = Table(
    "ticker_rollup_hourly", metadata,
    Column("bucket", DateTime(timezone=False), primary_key=True),
    Column("ticker", Text, primary_key=True),
    *_counts(),
    Index("ix_ticker_rollup_hourly_ticker_bucket", "ticker", "bucket"),
)

# Which model version the views prefer (one row; NULL: each article's newest classification; see
# storage/current_model.py).
current_model = Table(
    "current_model", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("model_version", Text),
    _stamp("changed_at"),
    CheckConstraint("id = 1", name="ck_current_model_one_row"),
)

# One alert episode: fired once per (rule, scope, key, window it fired in), resolved once. At most one open alert
# per (rule, scope, key) (ix_alerts_open): even two detection runs that slipped past the job lock cannot open the
# same alert twice.
alerts = Table(
    "alerts", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("negative", Integer, nullable=False),  # the numbers when it fired (the window above)
    Column("total", Integer, nullable=False),
    Column("baseline", Float, nullable=False),  # expected negative share
    Column("p_value", Float, nullable=False),
    Column("odds_ratio", Float, nullable=False),
    Column("fired_at", UTCDateTime(), nullable=False),
    Column("last_notified_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("resolved_negative", Integer),  # the numbers of the window that resolved it
    Column("resolved_total", Integer),
    Column("slack_channel", Text),  # Slack's thread: the resolution and repeats go under the first message
    Column("slack_ts", Text),
    UniqueConstraint("rule", "scope", "key", "window_start", name="uq_alerts_rule_scope_key_window"),
    Index("ix_alerts_open", "rule", "scope", "key", unique=True, postgresql_where=text("resolved_at IS NULL")),
    CheckConstraint("scope IN ('market', 'topic', 'ticker')", name="ck_alerts_scope"),
)

# One notification to deliver, written in the transaction that decided it (an outage loses none); the unique
# idempotency_key enqueues a decision once; a row is marked sent after Slack accepted it (alerts/slack.py).
alert_outbox = Table(
    "alert_outbox", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime()),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("slack_ts", Text),
    UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
    CheckConstraint("kind IN ('fire', 'repeat', 'resolve')", name="ck_alert_outbox_kind"),
    CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_alert_outbox_status"),
    Index("ix_alert_outbox_status_next", "status", "next_attempt_at"),
)

# One row per job that must run in one daemon at a time; its runner holds a row lock on it (storage/alerts_repo.py
# try_lock), which needs UPDATE privilege, which the read-only role lacks.
job_leaders = Table("job_leaders", metadata, Column("job", Text, primary_key=True))

# Only the columns code reads need to be right here; migration 0004 owns the SQL.
article_sentiment = Table(
    "article_sentiment", MetaData(),
    Column("article_id", BigInteger, primary_key=True),
    *(Column(name, UTCDateTime()) for name in ("published_at", "classified_at")),
    *(Column(name, Text) for name in ("source", "url", "title", "topic", "sentiment", "model_version")),
    *(Column(name, JSONB) for name in ("tickers", "highlights")),
    *(Column(name, Float) for name in ("topic_score", "sentiment_score", *(f"p_{v}" for v in SENTIMENT_VALUES))),
)
