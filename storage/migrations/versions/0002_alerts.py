"""Alerts and their delivery outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

A frozen snapshot, like 0001: every column spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_ID = sa.BigInteger()
_JSON = JSONB()
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("window_end", _TS, nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("odds_ratio", sa.Float(), nullable=False),
        sa.Column("fired_at", _TS, nullable=False),
        sa.Column("last_notified_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS),
        sa.Column("resolved_negative", sa.Integer()),
        sa.Column("resolved_total", sa.Integer()),
        sa.Column("slack_channel", sa.Text()),
        sa.Column("slack_ts", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("rule", "scope", "key", "window_start", name="uq_alerts_rule_scope_key_window"),
        sa.CheckConstraint("scope IN ('market', 'topic', 'ticker')", name="ck_alerts_scope"),
    )
    # One open alert per (rule, scope, key), whatever the window.
    op.create_index(
        "ix_alerts_open", "alerts", ["rule", "scope", "key"], unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )

    op.create_table(
        "alert_outbox",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("claimed_at", _TS),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS),
        sa.Column("slack_ts", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE", name="fk_alert_outbox_alert_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
        sa.CheckConstraint("kind IN ('fire', 'repeat', 'resolve')", name="ck_alert_outbox_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="ck_alert_outbox_status"
        ),
    )
    op.create_index("ix_alert_outbox_status_next", "alert_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alerts")
