"""Stand-ins for the steps' unit tests: no Kafka, no database, no threads but the store step's writer."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from consumers.source import RawMessage
from model.prediction import Prediction
from monitor.pipeline import Decoded, Pipeline
from monitor.steps.step import Batch, MessageRejected
from tests.unit.test_batching import FakeClock as Clock  # noqa: F401 - the steps' tests share it

PREDICTION = Prediction(topic="Earnings", topic_score=0.9, sentiment="negative", sentiment_score=0.8,
                        model_version="fake", topic_probs={"Earnings": 0.9}, sentiment_probs={"negative": 0.8},
                        highlights=("loss",))


def classify(texts: Sequence[str]) -> list[Prediction]:
    return [PREDICTION] * len(texts)


def record(offset: int, partition: int = 0, value: bytes | None = None, topic: str = "news") -> RawMessage:
    if value is None:
        value = json.dumps({"id": f"{partition}-{offset}", "title": f"Shares fall {offset}",
                            "published_at": "2026-12-01T10:00:00+00:00"}).encode()
    return RawMessage(topic=topic, partition=partition, offset=offset, key=None, value=value, timestamp_ms=0)


def records(n: int, partition: int = 0, first: int = 0) -> list[RawMessage]:
    return [record(first + i, partition) for i in range(n)]


def pipeline(write: Callable[[Callable[[object], None]], None] | None = None) -> Pipeline:
    """The product's pipeline with the fake model and a transaction that never reaches a database."""
    return Pipeline(classify=classify, store=write or (lambda fn: None), max_message_bytes=10_000,
                    dead_letter_max_bytes=100)


def batch(rs: Sequence[RawMessage], stored: int | None = None) -> Batch:
    return Batch(rs, Decoded(), 0.0, stored)


@dataclass
class Sink:
    """A next step that records what it was given; ``refuse`` makes submit raise MessageRejected."""

    refuse: bool = False
    got: list[object] = field(default_factory=list)
    polls: int = 0
    joined: list[float] = field(default_factory=list)
    closed: bool = False

    def submit(self, item: object) -> None:
        if self.refuse:
            raise MessageRejected
        self.got.append(item)

    def poll(self) -> None:
        self.polls += 1

    def join(self, timeout: float) -> None:
        self.joined.append(timeout)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeConsumer:
    """consumers.source.KafkaSource without a broker: ``queue`` is what the next polls return (a list of
    records, or an exception to raise); commits are recorded, or raise ``commit_error``."""

    queue: list[list[RawMessage] | BaseException] = field(default_factory=list)
    committed: list[dict[tuple[str, int], int]] = field(default_factory=list)
    commit_error: BaseException | None = None
    paused: bool = False
    pauses: int = 0
    live_connections: int | None = 1
    polls: list[tuple[int, int]] = field(default_factory=list)

    def poll(self, max_records: int, timeout_ms: int) -> list[RawMessage]:
        self.polls.append((max_records, timeout_ms))
        if not self.queue:
            return []
        head = self.queue.pop(0)
        if isinstance(head, BaseException):
            raise head
        return head

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.committed.append(dict(offsets))

    def pause_all(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_all(self) -> None:
        self.paused = False

    def connections(self) -> int | None:
        return self.live_connections

    def lag(self) -> dict[tuple[str, int], int]:
        return {}
