"""What the stream does to one batch: decode -> classify -> store (one transaction). The daemon runs these
as steps of a chain (monitor/steps/); `monitor ingest`, `backtest --input` and `deadletters replay` run them
in a row with `process`. Committing offsets is the daemon's last step, after the store (DESIGN habit 1-2)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, overload

from consumers.article import Article
from consumers.decode import InvalidMessage, decode
from model.prediction import Prediction
from monitor import metrics
from monitor.lines import bounded_lines
from storage.repository import DeadLetter, StoredItem, store_batch, store_dead_letters

log = logging.getLogger(__name__)

Classify = Callable[[Sequence[str]], list[Prediction]]


class Record(Protocol):
    """What the pipeline needs of a message: Kafka's RawMessage, or a line of an ingest file."""

    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def partition(self) -> int | None: ...
    @property
    def offset(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class FileRecord:
    value: bytes
    offset: int  # line number, for the dead letters
    topic: str | None = None
    partition: int | None = None
    size: int | None = None  # the line's whole size, when only its start was read (bounded_lines)


@dataclass
class Decoded:
    valid: list[tuple[Article, Record]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    items: list[StoredItem] = field(default_factory=list)  # filled by classification


@dataclass
class BatchResult:
    consumed: int
    stored: int  # new articles (redeliveries are not counted again)
    dead_letters: int
    seconds: float


class ArticleTexts(Sequence[str]):
    """What the classifier reads of each article, built when asked for: a list of whole texts would hold a second
    copy of every body in the batch (up to 4 bytes a character) while the model, which reads only the start of
    each, runs."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self._articles = articles

    def __len__(self) -> int:
        return len(self._articles)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [a.text() for a in self._articles[index]]
        return self._articles[index].text()


def jsonl_records(path: Path, max_line_bytes: int) -> Iterator[FileRecord]:
    """The non-blank lines of a JSON-lines file as records. Provenance "file:NAME" with the line number as
    offset, so re-ingesting a file dedups its dead letters as Kafka redelivery would. A line longer than
    ``max_line_bytes`` comes cut to ``max_line_bytes + 1`` bytes with its real size, so decode dead-letters
    it as too large and the dead letter says it was cut (``monitor deadletters replay`` will not replay it)."""
    with path.open("rb") as f:
        for number, line, size in bounded_lines(f, max_line_bytes):
            if line.strip():
                yield FileRecord(value=line, topic=f"file:{path.name}", partition=0, offset=number,
                                 size=size if size > len(line) else None)


def next_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """The offsets to commit for a stored batch: last offset + 1 per partition."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        if r.topic is not None and r.partition is not None and r.offset is not None:
            key = (r.topic, r.partition)
            out[key] = max(out.get(key, 0), r.offset + 1)
    return out


class Pipeline:
    def __init__(
        self,
        classify: Classify,
        store: Callable[[Callable[[object], None]], None],
        max_message_bytes: int,
        dead_letter_max_bytes: int,
    ) -> None:
        """`store(fn)` runs fn(session) inside one committed transaction (the caller owns the DB)."""
        self.classify = classify
        self.store = store
        self.max_message_bytes = max_message_bytes
        self.dead_letter_max_bytes = dead_letter_max_bytes

    def decode(self, records: Sequence[Record]) -> Decoded:
        out = Decoded()
        for r in records:
            result = decode(r.value, max_bytes=self.max_message_bytes)
            if isinstance(result, InvalidMessage):
                raw = r.value or b""
                # A file line read only in part (FileRecord.size) records its real size, so the dead letter
                # counts as truncated and is never replayed from the cut bytes.
                size = getattr(r, "size", None) or len(raw)
                error = result.error if size == len(raw) else f"too large: {size} bytes > {self.max_message_bytes}"
                out.dead.append(
                    DeadLetter(
                        raw=raw[: self.dead_letter_max_bytes],  # capped: a 10 MB message must not bloat the table
                        error=error,
                        raw_size=size,
                        kafka_topic=r.topic,
                        kafka_partition=r.partition,
                        kafka_offset=r.offset,
                    )
                )
            else:
                out.valid.append((result, r))
        return out

    def classify_batch(self, decoded: Decoded) -> None:
        """The model's predictions for the valid articles, as the items to store; no I/O."""
        if decoded.valid:
            started = time.perf_counter()
            predictions = self.classify(ArticleTexts([a for a, _ in decoded.valid]))
            metrics.MODEL_SECONDS.observe(time.perf_counter() - started)
            decoded.items = [
                StoredItem(a, p, kafka_topic=r.topic, kafka_partition=r.partition, kafka_offset=r.offset)
                for (a, r), p in zip(decoded.valid, predictions, strict=True)
            ]

    def prepare(self, records: Sequence[Record]) -> Decoded:
        """Decode and classify; no I/O, so a database retry never re-runs the model."""
        decoded = self.decode(records)
        self.classify_batch(decoded)
        return decoded

    def write(self, decoded: Decoded) -> int:
        stored = 0

        def txn(session: object) -> None:
            nonlocal stored
            stored = store_batch(session, decoded.items) if decoded.items else 0  # type: ignore[arg-type]
            if decoded.dead:
                store_dead_letters(session, decoded.dead)  # type: ignore[arg-type]

        self.store(txn)
        return stored

    def process(self, records: Sequence[Record]) -> BatchResult:
        started = time.perf_counter()
        decoded = self.prepare(records)
        stored = self.write(decoded)
        return self.account(records, decoded, stored, started)

    @staticmethod
    def account(records: Sequence[Record], decoded: Decoded, stored: int, started: float) -> BatchResult:
        seconds = time.perf_counter() - started
        metrics.CONSUMED.inc(len(records))
        metrics.STORED.inc(stored)
        metrics.DEAD_LETTERS.inc(len(decoded.dead))
        metrics.BATCH_SECONDS.observe(seconds)
        return BatchResult(len(records), stored, len(decoded.dead), seconds)
