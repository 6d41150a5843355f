"""The classifier's answer for one text. Cheap to import: no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Prediction:
    topic: str
    topic_score: float
    sentiment: str  # one of SENTIMENTS
    sentiment_score: float  # probability of the chosen sentiment
    model_version: str
    topic_probs: dict[str, float] = field(default_factory=dict)
    sentiment_probs: dict[str, float] = field(default_factory=dict)
    highlights: tuple[str, ...] = ()  # words the sentiment head attended to most, most important first
