"""Initial schema: articles, classifications, article_tickers, dead_letters and the two views.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

A frozen snapshot: it spells out every column instead of importing ``storage.schema``, so later model
changes cannot rewrite what this revision did.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_ID = sa.BigInteger()
_JSON = JSONB()
_TS = sa.DateTime(timezone=True)

# The current classification of an article is its newest row (ties: the greatest id, i.e. the later
# insert). PostgreSQL: a LATERAL lookup, so a filter on published_at uses ix_articles_published_at and
# then one backward probe of ix_classifications_current per article, instead of ranking the whole table.
_ARTICLE_SENTIMENT_COLUMNS = """
    a.id AS article_id, a.published_at, a.source, a.url, a.title, a.tickers,
    c.topic, c.topic_score, c.sentiment, c.sentiment_score,
    c.p_negative, c.p_neutral, c.p_positive, c.highlights, c.model_version, c.classified_at
"""

_ARTICLE_SENTIMENT_SQL = {
    "postgresql": f"""
CREATE VIEW article_sentiment AS
SELECT {_ARTICLE_SENTIMENT_COLUMNS}
FROM articles AS a
CROSS JOIN LATERAL (
    SELECT c.* FROM classifications AS c
    WHERE c.article_id = a.id
    ORDER BY c.classified_at DESC, c.id DESC
    LIMIT 1
) AS c
""",
}

# Buckets are UTC hours: a timestamp without time zone holding UTC wall time.
_SENTIMENT_HOURLY_SQL = {
    "postgresql": """
CREATE VIEW sentiment_hourly AS
SELECT
    date_trunc('hour', published_at AT TIME ZONE 'UTC') AS bucket,
    topic,
    count(*) AS total,
    count(*) FILTER (WHERE sentiment = 'negative') AS negative,
    count(*) FILTER (WHERE sentiment = 'neutral') AS neutral,
    count(*) FILTER (WHERE sentiment = 'positive') AS positive,
    (count(*) FILTER (WHERE sentiment = 'negative'))::double precision / count(*) AS negative_share
FROM article_sentiment
GROUP BY 1, 2
""",
}


def _dialect() -> str:
    # get_context().dialect also works offline (`alembic upgrade --sql`), unlike get_bind().
    name = op.get_context().dialect.name
    if name not in _ARTICLE_SENTIMENT_SQL:
        raise NotImplementedError(f"no view SQL for dialect {name!r}; add it to this migration")
    return name


def upgrade() -> None:
    dialect = _dialect()

    op.create_table(
        "articles",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text()),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text()),
        sa.Column("url", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("lang", sa.Text()),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("tickers", _JSON, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("extra", _JSON, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("ingested_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("kafka_topic", sa.Text()),
        sa.Column("kafka_partition", sa.Integer()),
        sa.Column("kafka_offset", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("key", name="uq_articles_key"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])

    op.create_table(
        "classifications",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("topic_score", sa.Float(), nullable=False),
        sa.Column("sentiment", sa.Text(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("p_negative", sa.Float()),
        sa.Column("p_neutral", sa.Float()),
        sa.Column("p_positive", sa.Float()),
        sa.Column("highlights", _JSON, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("classified_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_classifications"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], ondelete="CASCADE", name="fk_classifications_article_id"
        ),
        sa.UniqueConstraint("article_id", "model_version", name="uq_classifications_article_model"),
        sa.CheckConstraint(
            "sentiment IN ('negative', 'neutral', 'positive')", name="ck_classifications_sentiment"
        ),
    )
    op.create_index(
        "ix_classifications_model_topic_sentiment", "classifications", ["model_version", "topic", "sentiment"]
    )
    op.create_index("ix_classifications_current", "classifications", ["article_id", "classified_at", "id"])

    op.create_table(
        "article_tickers",
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "ticker", name="pk_article_tickers"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], ondelete="CASCADE", name="fk_article_tickers_article_id"
        ),
    )
    op.create_index("ix_article_tickers_ticker", "article_tickers", ["ticker"])

    op.create_table(
        "dead_letters",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("kafka_topic", sa.Text()),
        sa.Column("kafka_partition", sa.Integer()),
        sa.Column("kafka_offset", sa.BigInteger()),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint(
            "kafka_topic", "kafka_partition", "kafka_offset", name="uq_dead_letters_kafka_position"
        ),
    )

    op.execute(_ARTICLE_SENTIMENT_SQL[dialect])
    op.execute(_SENTIMENT_HOURLY_SQL[dialect])


def downgrade() -> None:
    # Views first: they depend on the tables.
    op.execute("DROP VIEW IF EXISTS sentiment_hourly")
    op.execute("DROP VIEW IF EXISTS article_sentiment")
    op.drop_table("dead_letters")
    op.drop_table("article_tickers")
    op.drop_table("classifications")
    op.drop_table("articles")
