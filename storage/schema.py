"""The monitor's tables as SQLAlchemy Core tables: the current shape of the schema. The frozen migrations never
import this module; ``tests/integration/test_storage.py`` checks that the two agree."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SENTIMENT_VALUES: tuple[str, ...] = ("negative", "neutral", "positive")


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is refused: PostgreSQL would read it in the server's zone and shift buckets."""
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware datetimes")
    return value.astimezone(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamptz that refuses naive datetimes on the way in (``utc``) and is timezone-aware on the way out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else utc(value)


def record_columns(table: sa.Table, record: type) -> list[sa.Column[Any]]:
    """The columns of ``table`` named like the fields of the dataclass ``record``, in its order: ``record(*row)``."""
    return [table.c[f.name] for f in fields(record)]


def _stamp(name: str) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime(), nullable=False, server_default=sa.func.now())


def _kafka_position() -> list[sa.Column[object]]:  # where it came from; NULL for `monitor ingest` (a file)
    return [sa.Column(name, kind) for name, kind in
            (("kafka_topic", sa.Text), ("kafka_partition", sa.Integer), ("kafka_offset", sa.BigInteger))]


def _counts() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in ("total", *SENTIMENT_VALUES)]


# Names for the constraints left unnamed, matching the ones the migrations spell out, so a schema made by
# create_all() and one made by the migrations are the same. bigint ids: offsets and article counts outgrow int4.
# JSONB: analysts can use ?, @> and GIN indexes.
metadata = sa.MetaData(naming_convention={
    "pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s", "ix": "ix_%(table_name)s_%(column_0_N_name)s",
})

# One row per idempotency key (DESIGN §3), however often Kafka redelivers the article.
articles = sa.Table(
    "articles", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text),  # the message's own ``id`` field, if it had one
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("lang", sa.Text),
    sa.Column("published_at", UTCDateTime(), nullable=False),
    # Denormalised copy of article_tickers, so one row reads back as the whole message.
    sa.Column("tickers", JSONB, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("extra", JSONB, nullable=False, server_default=sa.text("'{}'")),
    _stamp("ingested_at"),
    *_kafka_position(),
    sa.UniqueConstraint("key", name="uq_articles_key"),
    sa.Index("ix_articles_published_at", "published_at"),
)

# One model version's answer for one article. A new version adds rows and never overwrites, so old alerts stay
# explainable; an article's current result is chosen by the article_sentiment view (current_model).
classifications = sa.Table(
    "classifications", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.BigInteger, sa.ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("topic_score", sa.Float, nullable=False),
    sa.Column("sentiment", sa.Text, nullable=False),
    sa.Column("sentiment_score", sa.Float, nullable=False),
    *(sa.Column(f"p_{v}", sa.Float) for v in SENTIMENT_VALUES),  # NULL: a Prediction without its probabilities
    sa.Column("highlights", JSONB, nullable=False, server_default=sa.text("'[]'")),
    _stamp("classified_at"),
    # article_sentiment finds an article's rows through this constraint's index (article_id first).
    sa.UniqueConstraint("article_id", "model_version", name="uq_classifications_article_model"),
    sa.CheckConstraint("sentiment IN ('negative', 'neutral', 'positive')", name="ck_classifications_sentiment"),
    sa.Index("ix_classifications_model_topic_sentiment", "model_version", "topic", "sentiment"),
)

# One (article, ticker) pair, so per-ticker SQL is a plain join instead of a JSON search.
article_tickers = sa.Table(
    "article_tickers", metadata,
    sa.Column("article_id", sa.BigInteger, sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ticker", sa.Text, primary_key=True),
    sa.Index("ix_article_tickers_ticker", "ticker"),
)

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),  # truncated by the caller
    sa.Column("raw_size", sa.Integer, nullable=False),  # before truncation
    sa.Column("error", sa.Text, nullable=False),
    *_kafka_position(),
    _stamp("created_at"),
    sa.Column("replayed_at", UTCDateTime()),  # set by `monitor deadletters replay` when the message passed
    # A redelivered bad message is stored once; NULLs are distinct, so `monitor ingest`'s never collide.
    sa.UniqueConstraint("kafka_topic", "kafka_partition", "kafka_offset", name="uq_dead_letters_kafka_position"),
)

# Per UTC hour (naive: sentiment_hourly's bucket) and topic or ticker: the sentiment counts of every article's
# current result, kept by storage/rollups.py in the transaction that stores each batch. Pruning keeps them.
sentiment_rollup_hourly = sa.Table(
    "sentiment_rollup_hourly", metadata,
    sa.Column("bucket", sa.DateTime(timezone=False), primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    *_counts(),
)
ticker_rollup_hourly = sa.Table(
    "ticker_rollup_hourly", metadata,
    sa.Column("bucket", sa.DateTime(timezone=False), primary_key=True),
    sa.Column("ticker", sa.Text, primary_key=True),
    *_counts(),
    sa.Index("ix_ticker_rollup_hourly_ticker_bucket", "ticker", "bucket"),
)

# Which model version the views prefer (one row; NULL: each article's newest classification): in the database, as
# analysts read the views from psql, where no process environment exists.
current_model = sa.Table(
    "current_model", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("model_version", sa.Text),
    _stamp("changed_at"),
    sa.CheckConstraint("id = 1", name="ck_current_model_one_row"),
)

# One alert episode: fired once per (rule, scope, key, window it fired in), resolved once. At most one open alert
# per (rule, scope, key) (ix_alerts_open): even two detection runs that slipped past the job lock cannot open the
# same alert twice.
alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("window_start", UTCDateTime(), nullable=False),
    sa.Column("window_end", UTCDateTime(), nullable=False),
    sa.Column("negative", sa.Integer, nullable=False),  # the numbers when it fired (the window above)
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("baseline", sa.Float, nullable=False),  # expected negative share
    sa.Column("p_value", sa.Float, nullable=False),
    sa.Column("odds_ratio", sa.Float, nullable=False),
    sa.Column("fired_at", UTCDateTime(), nullable=False),
    sa.Column("last_notified_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("resolved_negative", sa.Integer),  # the numbers of the window that resolved it
    sa.Column("resolved_total", sa.Integer),
    sa.Column("slack_channel", sa.Text),  # Slack's thread: the resolution and repeats go under the first message
    sa.Column("slack_ts", sa.Text),
    sa.UniqueConstraint("rule", "scope", "key", "window_start", name="uq_alerts_rule_scope_key_window"),
    sa.Index("ix_alerts_open", "rule", "scope", "key", unique=True, postgresql_where=sa.text("resolved_at IS NULL")),
    sa.CheckConstraint("scope IN ('market', 'topic', 'ticker')", name="ck_alerts_scope"),
)

# One notification to deliver, written in the transaction that decided it (an outage loses none); the unique
# idempotency_key enqueues a decision once; a row is marked sent after Slack accepted it (alerts/slack.py).
alert_outbox = sa.Table(
    "alert_outbox", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.BigInteger, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_at", UTCDateTime()),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("slack_ts", sa.Text),
    sa.UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
    sa.CheckConstraint("kind IN ('fire', 'repeat', 'resolve')", name="ck_alert_outbox_kind"),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_alert_outbox_status"),
    sa.Index("ix_alert_outbox_status_next", "status", "next_attempt_at"),
)

# One row per job that must run in one daemon at a time; its runner holds a row lock on it (storage/alerts_repo.py
# try_lock), which needs UPDATE privilege, which the read-only role lacks.
job_leaders = sa.Table("job_leaders", metadata, sa.Column("job", sa.Text, primary_key=True))

# A view (migration 0004 owns its SQL), in its own MetaData so create_all never makes it; only the columns code reads.
article_sentiment = sa.Table(
    "article_sentiment", sa.MetaData(),
    sa.Column("article_id", sa.BigInteger, primary_key=True),
    *(sa.Column(name, UTCDateTime()) for name in ("published_at", "classified_at")),
    *(sa.Column(name, sa.Text) for name in ("source", "url", "title", "topic", "sentiment", "model_version")),
    *(sa.Column(name, JSONB) for name in ("tickers", "highlights")),
    *(sa.Column(name, sa.Float) for name in ("topic_score", "sentiment_score", *(f"p_{v}" for v in SENTIMENT_VALUES))),
)
