"""The monitor's tables, as typed SQLAlchemy 2.0 models.

These models are the source of truth for the *current* shape of the schema; the Alembic migrations in
``storage/migrations/versions`` are frozen snapshots of how the database got there (they never import
this module, so editing a model cannot rewrite history). ``tests/integration/test_storage.py`` checks
that the two agree.

The views (``article_sentiment``, ``sentiment_hourly``) are created by the migrations in SQL;
``article_sentiment`` is also described here as a plain ``Table`` in a separate
``MetaData`` so that repository code can query it with typed Core expressions without ``create_all``
ever trying to create it as a table.
"""

from __future__ import annotations

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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# bigint ids: offsets and article counts outgrow int4. JSONB: analysts can use ?, @> and GIN indexes.
BigIntId = BigInteger()
JsonDoc = JSONB()

SENTIMENT_VALUES: tuple[str, ...] = ("negative", "neutral", "positive")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamptz that refuses naive datetimes on the way in (PostgreSQL would read them in the server's
    time zone and shift buckets silently) and is timezone-aware on the way out, like ``Article``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            # A naive datetime is ambiguous; guessing a zone would shift buckets silently.
            raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware datetimes")
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    # Names for the constraints the models leave unnamed, matching the ones the migrations spell out, so a
    # schema made by create_all() and one made by the migrations are the same.
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        }
    )


class ArticleRow(Base):
    """One news article, stored once per idempotency key however often Kafka redelivers it."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("key", name="uq_articles_key"),
        Index("ix_articles_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # The idempotency key (DESIGN §3): every upsert is keyed on it.
    key: Mapped[str] = mapped_column(Text, nullable=False)
    # The message's own ``id`` field, if it had one; ``id`` is taken by the surrogate key.
    external_id: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Denormalised copy of article_tickers, so one row reads back as the whole message.
    tickers: Mapped[list[str]] = mapped_column(JsonDoc, nullable=False, server_default=text("'[]'"))
    extra: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False, server_default=text("'{}'"))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=func.now())
    # Where the first copy came from; NULL for `monitor ingest`, which reads a file, not Kafka.
    kafka_topic: Mapped[str | None] = mapped_column(Text)
    kafka_partition: Mapped[int | None] = mapped_column(Integer)
    kafka_offset: Mapped[int | None] = mapped_column(BigInteger)


class ClassificationRow(Base):
    """One model version's answer for one article.

    Point in time: a new model version adds rows and never overwrites, so old alerts stay explainable.
    The *current* classification of an article is the newest row (see the ``article_sentiment`` view).
    """

    __tablename__ = "classifications"
    __table_args__ = (
        UniqueConstraint("article_id", "model_version", name="uq_classifications_article_model"),
        CheckConstraint(
            "sentiment IN ('negative', 'neutral', 'positive')", name="ck_classifications_sentiment"
        ),
        Index("ix_classifications_model_topic_sentiment", "model_version", "topic", "sentiment"),
        # article_sentiment finds an article's rows through uq_classifications_article_model (article_id
        # first) and sorts its one or two rows by preference; 0004 dropped the (article_id, classified_at,
        # id) index that served the older "newest only" view, one index less to update per stored article.
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
    )
    model_version: Mapped[str] = mapped_column(Text, nullable=False)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    topic_score: Mapped[float] = mapped_column(Float, nullable=False)
    sentiment: Mapped[str] = mapped_column(Text, nullable=False)
    sentiment_score: Mapped[float] = mapped_column(Float, nullable=False)
    # Nullable: a Prediction may come without its probability vector.
    p_negative: Mapped[float | None] = mapped_column(Float)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    p_positive: Mapped[float | None] = mapped_column(Float)
    highlights: Mapped[list[str]] = mapped_column(JsonDoc, nullable=False, server_default=text("'[]'"))
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=func.now())


class ArticleTickerRow(Base):
    """One (article, ticker) pair, so per-ticker SQL is a plain join instead of a JSON search."""

    __tablename__ = "article_tickers"
    __table_args__ = (Index("ix_article_tickers_ticker", "ticker"),)

    article_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    ticker: Mapped[str] = mapped_column(Text, primary_key=True)


class DeadLetterRow(Base):
    """A message that failed validation: kept (truncated by the caller) so someone can look at it later."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        # A redelivered bad message is stored once. NULLs are distinct, so `monitor ingest` (no Kafka) is
        # never deduplicated by this constraint, which is what we want.
        UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_dead_letters_kafka_position"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    raw_size: Mapped[int] = mapped_column(Integer, nullable=False)  # before truncation
    error: Mapped[str] = mapped_column(Text, nullable=False)
    kafka_topic: Mapped[str | None] = mapped_column(Text)
    kafka_partition: Mapped[int | None] = mapped_column(Integer)
    kafka_offset: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=func.now())
    # Set by `monitor deadletters replay` when the message passed after a fix (migration 0005).
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Rollups (issue 3): hourly counts kept up to date by store_batch, so the hourly views stay fast at any size. ---

# The hour a row counts in, as sentiment_hourly shows it: UTC wall time without a zone.
RollupBucket = DateTime(timezone=False)


class SentimentRollupRow(Base):
    """Per UTC hour and topic: how many articles' *current* classification has each sentiment.

    Exactly ``article_sentiment`` grouped by hour and topic, maintained incrementally in the transaction that
    stores each batch (storage/rollups.py). Pruning articles keeps these counts; that is the point.
    """

    __tablename__ = "sentiment_rollup_hourly"

    bucket: Mapped[datetime] = mapped_column(RollupBucket, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    negative: Mapped[int] = mapped_column(BigInteger, nullable=False)
    neutral: Mapped[int] = mapped_column(BigInteger, nullable=False)
    positive: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TickerRollupRow(Base):
    """Per UTC hour and ticker, like ``SentimentRollupRow``."""

    __tablename__ = "ticker_rollup_hourly"
    __table_args__ = (Index("ix_ticker_rollup_hourly_ticker_bucket", "ticker", "bucket"),)

    bucket: Mapped[datetime] = mapped_column(RollupBucket, primary_key=True)
    ticker: Mapped[str] = mapped_column(Text, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    negative: Mapped[int] = mapped_column(BigInteger, nullable=False)
    neutral: Mapped[int] = mapped_column(BigInteger, nullable=False)
    positive: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CurrentModelRow(Base):
    """Which model version the views prefer (one row). NULL: each article's newest classification.

    With a version set, an article's current result is its row from that version, or its newest row if that
    version never classified it (so articles stored by a daemon running another version never disappear).
    Change it with ``monitor model use``, which also rebuilds the rollups.
    """

    __tablename__ = "current_model"
    __table_args__ = (CheckConstraint("id = 1", name="ck_current_model_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    model_version: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=func.now())


# Views live in their own MetaData: Base.metadata.create_all() and Alembic autogenerate must not treat
# them as tables. Only the columns repository code reads need to be right here; the migration owns the SQL.
view_metadata = MetaData()

article_sentiment = Table(
    "article_sentiment",
    view_metadata,
    Column("article_id", BigInteger, primary_key=True),
    Column("published_at", UTCDateTime()),
    Column("source", Text),
    Column("url", Text),
    Column("title", Text),
    Column("tickers", JsonDoc),
    Column("topic", Text),
    Column("topic_score", Float),
    Column("sentiment", Text),
    Column("sentiment_score", Float),
    Column("p_negative", Float),
    Column("p_neutral", Float),
    Column("p_positive", Float),
    Column("highlights", JsonDoc),
    Column("model_version", Text),
    Column("classified_at", UTCDateTime()),
)


# --- Alerts (issue 4): what the surge detector fired, and the outbox that delivers it to Slack. ---


class AlertRow(Base):
    """One alert episode: fired once per (rule, scope, key, window it fired in), resolved once.

    At most one open alert per (rule, scope, key) (``ix_alerts_open``, a partial unique index): even two
    detection runs that slipped past the leader lock (``job_leaders``) cannot open the same alert twice.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule", "scope", "key", "window_start", name="uq_alerts_rule_scope_key_window"),
        Index(
            "ix_alerts_open", "rule", "scope", "key", unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        CheckConstraint("scope IN ('market', 'topic', 'ticker')", name="ck_alerts_scope"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The numbers when it fired (the window above).
    negative: Mapped[int] = mapped_column(Integer, nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    baseline: Mapped[float] = mapped_column(Float, nullable=False)  # expected negative share
    p_value: Mapped[float] = mapped_column(Float, nullable=False)
    odds_ratio: Mapped[float] = mapped_column(Float, nullable=False)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_notified_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The numbers of the window that resolved it.
    resolved_negative: Mapped[int | None] = mapped_column(Integer)
    resolved_total: Mapped[int | None] = mapped_column(Integer)
    # Slack's thread: the resolution and repeats are posted under the first message.
    slack_channel: Mapped[str | None] = mapped_column(Text)
    slack_ts: Mapped[str | None] = mapped_column(Text)


class AlertOutboxRow(Base):
    """One notification to deliver. Written in the transaction that decided it, so an outage loses none;
    ``idempotency_key`` is unique, so deciding twice enqueues once; a row is marked sent in the transaction
    after Slack accepted it, so a restart never re-sends a delivered one."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
        CheckConstraint("kind IN ('fire', 'repeat', 'resolve')", name="ck_alert_outbox_kind"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_alert_outbox_status"),
        Index("ix_alert_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slack_ts: Mapped[str | None] = mapped_column(Text)


class JobLeaderRow(Base):
    """One row per scheduled job that must run in one daemon at a time (``surge_detection``,
    ``alert_delivery``; migration 0006). The runner holds ``SELECT ... FOR UPDATE SKIP LOCKED`` on its row
    for its transaction: a row lock needs UPDATE privilege, which the read-only role ``monitor_reader``
    lacks, so no analyst's session can hold the job off (an advisory lock could be taken by anyone)."""

    __tablename__ = "job_leaders"

    job: Mapped[str] = mapped_column(Text, primary_key=True)
