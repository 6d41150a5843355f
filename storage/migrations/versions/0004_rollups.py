"""Hourly rollups behind sentiment_hourly / ticker_sentiment_hourly, and a configurable current model version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

A frozen snapshot, like 0001-0003.

- ``sentiment_rollup_hourly`` and ``ticker_rollup_hourly`` hold, per UTC hour and topic / ticker, the
  sentiment counts of every article's current classification. ``store_batch`` keeps them exact in the
  transaction that stores a batch (storage/rollups.py), so the hourly views read a few thousand rows instead
  of grouping the whole history. Upgrade fills them from what is stored.
- ``current_model`` (one row) names the model version the views prefer; NULL keeps 0001's rule (newest
  classification). ``article_sentiment`` is recreated to honour it, with the same columns.
- The views keep their names, columns and bucket types, so analysts' saved queries keep working.
- ``ix_classifications_current`` goes: the preference-aware view sorts an article's one or two rows itself
  and finds them through ``uq_classifications_article_model``, so the index only cost writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ARTICLE_SENTIMENT_COLUMNS = """
    a.id AS article_id, a.published_at, a.source, a.url, a.title, a.tickers,
    c.topic, c.topic_score, c.sentiment, c.sentiment_score,
    c.p_negative, c.p_neutral, c.p_positive, c.highlights, c.model_version, c.classified_at
"""
# The preferred version's row first (coalesce: NULL preference -> no row is preferred), then the newest.
def _preference_order(alias: str, false: str) -> str:
    return f"""
    coalesce({alias}.model_version = (SELECT cm.model_version FROM current_model AS cm WHERE cm.id = 1), {false}) DESC,
    {alias}.classified_at DESC, {alias}.id DESC
"""


_ARTICLE_SENTIMENT_SQL = {
    "postgresql": f"""
CREATE VIEW article_sentiment AS
SELECT {_ARTICLE_SENTIMENT_COLUMNS}
FROM articles AS a
CROSS JOIN LATERAL (
    SELECT c.* FROM classifications AS c
    WHERE c.article_id = a.id
    ORDER BY {_preference_order("c", "false")}
    LIMIT 1
) AS c
""",
}

_BUCKET = {
    "postgresql": "date_trunc('hour', s.published_at AT TIME ZONE 'UTC')",
}
_COUNTS = """
    count(*),
    sum(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END)
"""


def _backfill_sql(dialect: str) -> list[str]:
    bucket = _BUCKET[dialect]
    return [
        f"""INSERT INTO sentiment_rollup_hourly (bucket, topic, total, negative, neutral, positive)
            SELECT {bucket}, s.topic, {_COUNTS} FROM article_sentiment AS s GROUP BY 1, 2""",
        f"""INSERT INTO ticker_rollup_hourly (bucket, ticker, total, negative, neutral, positive)
            SELECT {bucket}, t.ticker, {_COUNTS}
            FROM article_sentiment AS s JOIN article_tickers AS t ON t.article_id = s.article_id
            GROUP BY 1, 2""",
    ]


_SHARE = {
    "postgresql": "negative::double precision / total",
}


def _hourly_view_sql(dialect: str, view: str, table: str, key: str) -> str:
    # total > 0: a bucket whose articles were all re-classified into another topic keeps a zero row.
    return f"""
CREATE VIEW {view} AS
SELECT bucket, {key}, total, negative, neutral, positive, {_SHARE[dialect]} AS negative_share
FROM {table}
WHERE total > 0
"""


def _dialect() -> str:
    name = op.get_context().dialect.name
    if name not in _ARTICLE_SENTIMENT_SQL:
        raise NotImplementedError(f"no view SQL for dialect {name!r}; add it to this migration")
    return name


def _counts() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in ("total", "negative", "neutral", "positive")]


def upgrade() -> None:
    dialect = _dialect()
    bucket_type = sa.DateTime(timezone=False)

    op.create_table(
        "current_model",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("model_version", sa.Text()),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="ck_current_model_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_current_model"),
    )
    op.execute("INSERT INTO current_model (id, model_version) VALUES (1, NULL)")
    op.create_table(
        "sentiment_rollup_hourly",
        sa.Column("bucket", bucket_type, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("bucket", "topic", name="pk_sentiment_rollup_hourly"),
    )
    op.create_table(
        "ticker_rollup_hourly",
        sa.Column("bucket", bucket_type, nullable=False),
        sa.Column("ticker", sa.Text(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("bucket", "ticker", name="pk_ticker_rollup_hourly"),
    )
    op.create_index("ix_ticker_rollup_hourly_ticker_bucket", "ticker_rollup_hourly", ["ticker", "bucket"])

    op.execute("DROP VIEW ticker_sentiment_hourly")
    op.execute("DROP VIEW sentiment_hourly")
    op.execute("DROP VIEW article_sentiment")
    op.execute(_ARTICLE_SENTIMENT_SQL[dialect])
    op.drop_index("ix_classifications_current", table_name="classifications")
    for statement in _backfill_sql(dialect):
        op.execute(statement)
    op.execute(_hourly_view_sql(dialect, "sentiment_hourly", "sentiment_rollup_hourly", "topic"))
    op.execute(_hourly_view_sql(dialect, "ticker_sentiment_hourly", "ticker_rollup_hourly", "ticker"))
    # 0003's default privileges cover new objects only when the same role runs every migration.
    op.execute(
        """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader') THEN
        GRANT SELECT ON current_model, sentiment_rollup_hourly, ticker_rollup_hourly,
                        article_sentiment, sentiment_hourly, ticker_sentiment_hourly TO monitor_reader;
    END IF;
END
$$
"""
    )


# Downgrade restores 0001's and 0003's views (copied here: migrations never import each other).
_OLD_VIEWS = {
    "postgresql": [
        f"""CREATE VIEW article_sentiment AS SELECT {_ARTICLE_SENTIMENT_COLUMNS} FROM articles AS a
            CROSS JOIN LATERAL (SELECT c.* FROM classifications AS c WHERE c.article_id = a.id
                                ORDER BY c.classified_at DESC, c.id DESC LIMIT 1) AS c""",
    ],
}


def _old_hourly_sql(dialect: str) -> list[str]:
    bucket = _BUCKET[dialect]
    share = {
        "postgresql": "(count(*) FILTER (WHERE s.sentiment = 'negative'))::double precision / count(*)",
    }[dialect]
    counts = """count(*) AS total,
        sum(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END) AS negative,
        sum(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END) AS neutral,
        sum(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END) AS positive"""
    return [
        f"""CREATE VIEW sentiment_hourly AS SELECT {bucket} AS bucket, s.topic, {counts}, {share} AS negative_share
            FROM article_sentiment AS s GROUP BY 1, 2""",
        f"""CREATE VIEW ticker_sentiment_hourly AS SELECT {bucket} AS bucket, t.ticker, {counts},
            {share} AS negative_share
            FROM article_sentiment AS s JOIN article_tickers AS t ON t.article_id = s.article_id GROUP BY 1, 2""",
    ]


def downgrade() -> None:
    dialect = _dialect()
    op.execute("DROP VIEW ticker_sentiment_hourly")
    op.execute("DROP VIEW sentiment_hourly")
    op.execute("DROP VIEW article_sentiment")
    op.create_index("ix_classifications_current", "classifications", ["article_id", "classified_at", "id"])
    for statement in _OLD_VIEWS[dialect] + _old_hourly_sql(dialect):
        op.execute(statement)
    op.drop_index("ix_ticker_rollup_hourly_ticker_bucket", table_name="ticker_rollup_hourly")
    op.drop_table("ticker_rollup_hourly")
    op.drop_table("sentiment_rollup_hourly")
    op.drop_table("current_model")
