"""Reading dead letters back, and marking the ones a replay stored (`monitor deadletters list|replay`).

Writing them is ``repository.store_dead_letters`` (the stream's path). Like the repository, every function
takes a ``Session`` and never commits: a replay marks its letters in the same transaction that stores their
articles, so a crash between the two cannot leave an article stored but its letter still pending (or the
reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from storage.schema import DeadLetterRow

_DEAD_LETTERS = cast(Table, DeadLetterRow.__table__)


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


_COLUMNS = (
    _DEAD_LETTERS.c.id, _DEAD_LETTERS.c.raw, _DEAD_LETTERS.c.raw_size, _DEAD_LETTERS.c.error,
    _DEAD_LETTERS.c.kafka_topic, _DEAD_LETTERS.c.kafka_partition, _DEAD_LETTERS.c.kafka_offset,
    _DEAD_LETTERS.c.created_at, _DEAD_LETTERS.c.replayed_at,
)


def _letter(row: Sequence[object]) -> StoredDeadLetter:
    id_, raw, raw_size, error, topic, partition, offset, created_at, replayed_at = row
    return StoredDeadLetter(
        id=cast(int, id_), raw=bytes(cast(bytes, raw)), raw_size=cast(int, raw_size), error=cast(str, error),
        kafka_topic=cast("str | None", topic), kafka_partition=cast("int | None", partition),
        kafka_offset=cast("int | None", offset), created_at=cast(datetime, created_at),
        replayed_at=cast("datetime | None", replayed_at),
    )


def recent(session: Session, *, limit: int, include_replayed: bool = False) -> list[StoredDeadLetter]:
    """The newest dead letters first (pending only, unless include_replayed)."""
    stmt = select(*_COLUMNS).order_by(_DEAD_LETTERS.c.id.desc()).limit(limit)
    if not include_replayed:
        stmt = stmt.where(_DEAD_LETTERS.c.replayed_at.is_(None))
    return [_letter(row) for row in session.execute(stmt)]


def pending_after(session: Session, after_id: int, *, limit: int) -> list[StoredDeadLetter]:
    """Not yet replayed, oldest first, with id > after_id: a replay pages with it, so letters that still
    fail are read once per run, not again and again."""
    c = _DEAD_LETTERS.c
    stmt = (select(*_COLUMNS).where(c.replayed_at.is_(None), c.id > after_id).order_by(c.id).limit(limit))
    return [_letter(row) for row in session.execute(stmt)]


def mark_replayed(session: Session, ids: Sequence[int], at: datetime) -> int:
    """Stamp these letters as replayed; ones already stamped keep their first stamp. Returns how many changed."""
    if not ids:
        return 0
    c = _DEAD_LETTERS.c
    result = session.execute(update(_DEAD_LETTERS).where(c.id.in_(list(ids)), c.replayed_at.is_(None))
                             .values(replayed_at=at))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def counts(session: Session) -> tuple[int, int]:
    """(pending, replayed)."""
    c = _DEAD_LETTERS.c
    pending = session.scalar(select(func.count()).where(c.replayed_at.is_(None))) or 0
    replayed = session.scalar(select(func.count()).where(c.replayed_at.is_not(None))) or 0
    return int(pending), int(replayed)
