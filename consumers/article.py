"""A validated news message. Cheap to import: no kafka, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """One news message that passed validation (DESIGN §3)."""

    key: str  # idempotency key: id, else url, else sha256(source|title|published_at)
    title: str
    published_at: datetime  # always timezone-aware
    id: str | None = None
    url: str | None = None
    body: str | None = None
    source: str | None = None
    lang: str | None = None
    tickers: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, kept verbatim

    def text(self) -> str:
        return classifier_text(self.title, self.body)


def classifier_text(title: str, body: str | None) -> str:
    """What the classifier reads: the title, then the body (the model truncates). `monitor reclassify` reads
    stored articles the same way, so a re-classification sees exactly what the first one saw."""
    if body:
        return f"{title}\n{body}"
    return title
