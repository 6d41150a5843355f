"""Dead-letter replay: ``dead_letters.replayed_at``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

A frozen snapshot, like 0001-0004.

``monitor deadletters replay`` runs stored dead letters through decode -> classify -> store again after a
fix (a decoder change, a raised MONITOR_MAX_MESSAGE_BYTES) and stamps the ones that now pass, in the same
transaction that stores their articles; NULL means not replayed (yet). The row itself stays: it is the
record of what arrived and why it was refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("replayed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("dead_letters", "replayed_at")
