"""Analyst views (ticker_sentiment_hourly, alert_history) and the read-only role monitor_reader.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

A frozen snapshot, like 0001 and 0002.

The role (PostgreSQL only) is created LOGIN without a password, so nobody can log in with it until an
operator gives it one (``ALTER ROLE monitor_reader PASSWORD '...'``; see the README). Roles belong to the
whole server while grants belong to one database: several monitor databases on one server share the
role, so upgrade creates it only if it is missing and downgrade only revokes this database's grants.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Buckets are UTC hours, as in sentiment_hourly (0001).
_TICKER_SENTIMENT_HOURLY_SQL = {
    "postgresql": """
CREATE VIEW ticker_sentiment_hourly AS
SELECT
    date_trunc('hour', s.published_at AT TIME ZONE 'UTC') AS bucket,
    t.ticker,
    count(*) AS total,
    count(*) FILTER (WHERE s.sentiment = 'negative') AS negative,
    count(*) FILTER (WHERE s.sentiment = 'neutral') AS neutral,
    count(*) FILTER (WHERE s.sentiment = 'positive') AS positive,
    (count(*) FILTER (WHERE s.sentiment = 'negative'))::double precision / count(*) AS negative_share
FROM article_sentiment AS s
JOIN article_tickers AS t ON t.article_id = s.article_id
GROUP BY 1, 2
""",
}

# One row per alert episode: the window that fired it and, once resolved, the window that resolved it.
_ALERT_HISTORY_SQL = {
    "postgresql": """
CREATE VIEW alert_history AS
SELECT
    id AS alert_id, rule, scope, key,
    CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END AS status,
    window_start, window_end, negative, total,
    negative::double precision / NULLIF(total, 0) AS negative_share,
    baseline, p_value, odds_ratio,
    fired_at, last_notified_at, resolved_at,
    resolved_negative, resolved_total,
    resolved_negative::double precision / NULLIF(resolved_total, 0) AS resolved_negative_share
FROM alerts
""",
}

# Two test databases migrating at once may both see the role missing; the loser of the race gets
# unique_violation (or duplicate_object) and carries on.
_CREATE_READER_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader') THEN
        BEGIN
            CREATE ROLE monitor_reader LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO monitor_reader', current_database());
END
$$
"""

_GRANTS = [
    "GRANT USAGE ON SCHEMA public TO monitor_reader",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO monitor_reader",  # tables and views
    # Tables and views later migrations create (as the role that runs the migrations) are readable too.
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO monitor_reader",
]

_REVOKE_READER = """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'monitor_reader') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM monitor_reader;
        REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM monitor_reader;
        REVOKE USAGE ON SCHEMA public FROM monitor_reader;
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM monitor_reader', current_database());
    END IF;
END
$$
"""


def _dialect() -> str:
    name = op.get_context().dialect.name
    if name not in _ALERT_HISTORY_SQL:
        raise NotImplementedError(f"no view SQL for dialect {name!r}; add it to this migration")
    return name


def upgrade() -> None:
    dialect = _dialect()
    op.execute(_TICKER_SENTIMENT_HOURLY_SQL[dialect])
    op.execute(_ALERT_HISTORY_SQL[dialect])
    op.execute(_CREATE_READER_ROLE)
    for statement in _GRANTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(_REVOKE_READER)
    op.execute("DROP VIEW IF EXISTS alert_history")
    op.execute("DROP VIEW IF EXISTS ticker_sentiment_hourly")
