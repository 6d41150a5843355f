"""Which model version the analyst views prefer (table ``current_model``, migration 0004; NULL: each article's
newest classification). Kept in the database because analysts read the views from psql, where no process
environment exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage import rollups
from storage.schema import classifications, current_model


@dataclass(frozen=True, slots=True)
class ModelVersion:
    model_version: str
    articles: int
    first_classified_at: datetime
    last_classified_at: datetime


class UnknownModelVersion(ValueError):
    """No stored classification has this version: preferring it would change nothing, so it is a typo."""


def preferred_version(session: Session) -> str | None:
    return session.scalar(select(current_model.c.model_version))  # one row: ck_current_model_one_row


def model_versions(session: Session) -> list[ModelVersion]:
    """Every stored model version with how many articles it classified, oldest first."""
    c = classifications.c
    stmt = (
        select(c.model_version, func.count(), func.min(c.classified_at), func.max(c.classified_at))
        .group_by(c.model_version)
        .order_by(func.min(c.classified_at), c.model_version)
    )
    return [ModelVersion(v, int(n), first, last) for v, n, first, last in session.execute(stmt)]


def prefer_version(session: Session, version: str | None) -> None:
    """Make ``version`` (None: newest per article) what the views show, and rebuild the rollups to match. Run it
    while no ``monitor reclassify`` writes: a batch stored meanwhile could be counted by the old rule (``monitor db
    rebuild-rollups`` repairs that)."""
    if version is not None:
        known = select(classifications.c.id).where(classifications.c.model_version == version).exists()
        if not session.scalar(select(known)):
            raise UnknownModelVersion(f"no stored classification has model version {version!r}")
    session.execute(update(current_model).values(model_version=version, changed_at=datetime.now(UTC)))
    rollups.rebuild(session)
