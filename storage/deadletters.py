"""Reading dead letters back, and marking the ones a replay stored (`monitor deadletters list|replay`).

Writing them is ``repository.store_dead_letters``. A replay marks its letters in the transaction that stores their
articles (the caller commits), so a crash between the two cannot leave an article stored but its letter pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from storage.schema import dead_letters, record_columns


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


def _read(session: Session, stmt: Select[Any]) -> list[StoredDeadLetter]:
    return [StoredDeadLetter(*row) for row in session.execute(stmt)]


_SELECT = select(*record_columns(dead_letters, StoredDeadLetter))
_c = dead_letters.c


def recent(session: Session, *, limit: int, include_replayed: bool = False) -> list[StoredDeadLetter]:
    """The newest dead letters first (pending only, unless include_replayed)."""
    stmt = _SELECT.order_by(_c.id.desc()).limit(limit)
    return _read(session, stmt if include_replayed else stmt.where(_c.replayed_at.is_(None)))


def pending_after(session: Session, after_id: int, *, limit: int) -> list[StoredDeadLetter]:
    """Not yet replayed, oldest first, with id > after_id: a replay pages with it, so letters that still
    fail are read once per run, not again and again."""
    return _read(session, _SELECT.where(_c.replayed_at.is_(None), _c.id > after_id).order_by(_c.id).limit(limit))


def mark_replayed(session: Session, ids: Sequence[int], at: datetime) -> int:
    """Stamp these letters as replayed; ones already stamped keep their first stamp. Returns how many changed."""
    stmt = update(dead_letters).where(_c.id.in_(list(ids)), _c.replayed_at.is_(None)).values(replayed_at=at)
    return int(session.execute(stmt).rowcount or 0) if ids else 0  # type: ignore[attr-defined]


def counts(session: Session) -> tuple[int, int]:
    """(pending, replayed)."""
    pending, replayed = session.execute(
        select(func.count().filter(_c.replayed_at.is_(None)), func.count(_c.replayed_at))).one()
    return int(pending), int(replayed)
