"""Stored history over time: what `monitor reclassify` still has to do, and what `monitor prune` removes.

Both work in chunks in article id order, one transaction per chunk (the caller commits), so a run can be
interrupted anywhere and resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.orm import Session

from consumers.article import classifier_text
from storage.schema import article_tickers, articles, classifications


@dataclass(frozen=True, slots=True)
class StoredText:
    article_id: int
    text: str


def _pending(version: str, since: datetime, until: datetime | None) -> Select[tuple[int]]:
    a = articles.c
    done = exists().where(classifications.c.article_id == a.id, classifications.c.model_version == version)
    stmt = select(a.id).where(a.published_at >= since, ~done)
    return stmt if until is None else stmt.where(a.published_at < until)


def count_unclassified(session: Session, version: str, since: datetime, until: datetime | None) -> int:
    """Articles published in [since, until) that ``version`` has not classified yet."""
    return session.scalar(select(func.count()).select_from(_pending(version, since, until).subquery())) or 0


def next_unclassified(
    session: Session, version: str, since: datetime, until: datetime | None, *, after_id: int, limit: int
) -> list[StoredText]:
    """The next ``limit`` such articles with id > ``after_id``, in id order, with the text the model reads."""
    ids = _pending(version, since, until).where(articles.c.id > after_id).order_by(articles.c.id).limit(limit)
    rows = session.execute(
        select(articles.c.id, articles.c.title, articles.c.body)
        .where(articles.c.id.in_(ids.scalar_subquery()))
        .order_by(articles.c.id)
    )
    return [StoredText(article_id, classifier_text(title, body)) for article_id, title, body in rows]


@dataclass(frozen=True, slots=True)
class PruneCounts:
    classifications: int
    tickers: int
    articles: int


# Children first and explicitly, rather than by ON DELETE CASCADE: each table's count is reported.
_PRUNED = ((classifications, "article_id"), (article_tickers, "article_id"), (articles, "id"))


def count_older(session: Session, cutoff: datetime) -> PruneCounts:
    """What pruning everything published before ``cutoff`` would delete."""
    old = select(articles.c.id).where(articles.c.published_at < cutoff)
    return PruneCounts(*(session.scalar(select(func.count()).select_from(table).where(table.c[column].in_(old))) or 0
                         for table, column in _PRUNED))


def prune_chunk(session: Session, cutoff: datetime, limit: int) -> PruneCounts:
    """Delete up to ``limit`` articles published before ``cutoff``, with their classifications and tickers.
    Alerts, dead letters and the rollups stay: the rollups keep counting pruned hours, so the baseline and
    analysts see a year back without the articles."""
    ids = session.scalars(select(articles.c.id).where(articles.c.published_at < cutoff).order_by(articles.c.id)
                          .limit(limit)).all()
    return PruneCounts(*(session.execute(delete(table).where(table.c[column].in_(ids))).rowcount  # type: ignore[attr-defined]
                         for table, column in _PRUNED))
