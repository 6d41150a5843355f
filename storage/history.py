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
from storage.schema import article_tickers
from storage.schema import articles as _ARTICLES
from storage.schema import classifications as _CLASSIFICATIONS


@dataclass(frozen=True, slots=True)
class StoredText:
    article_id: int
    text: str


def _pending(version: str, since: datetime, until: datetime | None) -> Select[tuple[int]]:
    a = _ARTICLES.c
    done = exists().where(_CLASSIFICATIONS.c.article_id == a.id, _CLASSIFICATIONS.c.model_version == version)
    stmt = select(a.id).where(a.published_at >= since, ~done)
    return stmt if until is None else stmt.where(a.published_at < until)


def count_unclassified(session: Session, version: str, since: datetime, until: datetime | None) -> int:
    """Articles published in [since, until) that ``version`` has not classified yet."""
    return session.scalar(select(func.count()).select_from(_pending(version, since, until).subquery())) or 0


def next_unclassified(
    session: Session, version: str, since: datetime, until: datetime | None, *, after_id: int, limit: int
) -> list[StoredText]:
    """The next ``limit`` such articles with id > ``after_id``, in id order, with the text the model reads."""
    ids = _pending(version, since, until).where(_ARTICLES.c.id > after_id).order_by(_ARTICLES.c.id).limit(limit)
    rows = session.execute(
        select(_ARTICLES.c.id, _ARTICLES.c.title, _ARTICLES.c.body)
        .where(_ARTICLES.c.id.in_(ids.scalar_subquery()))
        .order_by(_ARTICLES.c.id)
    )
    return [StoredText(article_id, classifier_text(title, body)) for article_id, title, body in rows]


@dataclass(frozen=True, slots=True)
class PruneCounts:
    articles: int
    classifications: int
    tickers: int


def count_older(session: Session, cutoff: datetime) -> PruneCounts:
    """What pruning everything published before ``cutoff`` would delete."""
    old = select(_ARTICLES.c.id).where(_ARTICLES.c.published_at < cutoff)
    return PruneCounts(
        articles=session.scalar(select(func.count()).select_from(old.subquery())) or 0,
        classifications=session.scalar(
            select(func.count()).select_from(_CLASSIFICATIONS).where(_CLASSIFICATIONS.c.article_id.in_(old))
        )
        or 0,
        tickers=session.scalar(select(func.count()).select_from(article_tickers).where(article_tickers.c.article_id.in_(old)))
        or 0,
    )


def prune_chunk(session: Session, cutoff: datetime, limit: int) -> PruneCounts:
    """Delete up to ``limit`` articles published before ``cutoff``, with their classifications and tickers.

    Alerts, dead letters and the hourly rollups are never touched: the rollups keep counting pruned hours,
    which is what lets the baseline and analysts see a year back without the articles.
    """
    ids = [row[0] for row in session.execute(
        select(_ARTICLES.c.id).where(_ARTICLES.c.published_at < cutoff).order_by(_ARTICLES.c.id).limit(limit)
    )]
    if not ids:
        return PruneCounts(0, 0, 0)
    # Children first and explicitly, rather than by ON DELETE CASCADE: each table's count is reported.
    classifications = session.execute(delete(_CLASSIFICATIONS).where(_CLASSIFICATIONS.c.article_id.in_(ids)))
    tickers = session.execute(delete(article_tickers).where(article_tickers.c.article_id.in_(ids)))
    articles = session.execute(delete(_ARTICLES).where(_ARTICLES.c.id.in_(ids)))
    return PruneCounts(articles.rowcount, classifications.rowcount, tickers.rowcount)  # type: ignore[attr-defined]
