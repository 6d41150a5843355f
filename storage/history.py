"""Stored history over time (`monitor reclassify`, `model`, `prune`). Reclassify and prune work in chunks in article
id order, one transaction per chunk (the caller commits), so a run can be interrupted anywhere and resumed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.orm import Session

from consumers.article import classifier_text
from storage import rollups
from storage.schema import article_tickers, articles, classifications, current_model


@dataclass(frozen=True, slots=True)
class StoredText:
    article_id: int
    text: str


def _pending(version: str, since: datetime, until: datetime | None, *columns: Any) -> Select[Any]:
    a = articles.c
    done = exists().where(classifications.c.article_id == a.id, classifications.c.model_version == version)
    stmt = select(*(columns or (a.id,))).where(a.published_at >= since, ~done)
    return stmt if until is None else stmt.where(a.published_at < until)


def count_unclassified(session: Session, version: str, since: datetime, until: datetime | None) -> int:
    """Articles published in [since, until) that ``version`` has not classified yet."""
    return session.scalar(select(func.count()).select_from(_pending(version, since, until).subquery())) or 0


def next_unclassified(
    session: Session, version: str, since: datetime, until: datetime | None, *, after_id: int, limit: int
) -> list[StoredText]:
    """The next ``limit`` such articles with id > ``after_id``, in id order, with the text the model reads."""
    a = articles.c
    rows = session.execute(_pending(version, since, until, a.id, a.title, a.body).where(a.id > after_id)
                           .order_by(a.id).limit(limit))
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
    """Delete up to ``limit`` articles published before ``cutoff``, with their classifications and tickers. The
    rollups keep counting pruned hours, so the baseline and analysts see a year back without the articles."""
    ids = session.scalars(select(articles.c.id).where(articles.c.published_at < cutoff).order_by(articles.c.id)
                          .limit(limit)).all()
    return PruneCounts(*(session.execute(delete(table).where(table.c[column].in_(ids))).rowcount  # type: ignore[attr-defined]
                         for table, column in _PRUNED))


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
    """Make ``version`` (None: newest per article) what the views show, and rebuild the rollups to match. A batch
    that ``monitor reclassify`` stores meanwhile may be counted by the old rule (``monitor db rebuild-rollups``)."""
    if version is not None:
        known = select(classifications.c.id).where(classifications.c.model_version == version).exists()
        if not session.scalar(select(known)):
            raise UnknownModelVersion(f"no stored classification has model version {version!r}")
    session.execute(update(current_model).values(model_version=version, changed_at=datetime.now(UTC)))
    rollups.rebuild(session)
