"""`monitor deadletters list|replay`: look at the dead letters, and after a fix run them through the stream's
own decode -> classify -> store path again.

A replay pages through the pending letters oldest first. Each page is one transaction: the articles that now
pass are stored (idempotent upserts, so an article that also arrived later in good shape is not doubled) and
their letters stamped `replayed_at`. Letters that still fail stay pending with their original error; letters
whose raw bytes were cut at MONITOR_DEAD_LETTER_MAX_BYTES cannot be rebuilt and are only counted. Running it
again replays nothing twice.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from monitor.argtypes import positive_int
from monitor.config import Settings

PREVIEW_BYTES = 60



def add_deadletters_parser(subparsers: Any, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Register `deadletters list|replay`; ``settings_of(args)`` is cli's settings loader."""
    p = subparsers.add_parser("deadletters", help="list dead letters, or replay them after a fix")
    sub = p.add_subparsers(dest="deadletters_command", required=True, metavar="{list,replay}")

    ls = sub.add_parser("list", help="the newest dead letters (pending unless --all)")
    ls.add_argument("--limit", type=positive_int, default=50, help="how many (default 50)")
    ls.add_argument("--all", action="store_true", help="include replayed ones")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.set_defaults(fn=lambda args: cmd_list(args, settings_of(args)))

    rp = sub.add_parser("replay", help="decode, classify and store pending dead letters again (idempotent)")
    rp.add_argument("--limit", type=positive_int, help="at most this many letters (default: all pending)")
    rp.add_argument("--batch-size", type=positive_int, default=256, help="letters per transaction (default 256)")
    rp.add_argument("--dry-run", action="store_true", help="decode only: say what would pass, store nothing")
    rp.set_defaults(fn=lambda args: cmd_replay(args, settings_of(args)))


def _printable(text: str, limit: int) -> str:
    # Errors quote bits of hostile input: never let one reach the terminal as a control sequence.
    clean = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import app
    from storage.repository import dead_letter_counts as counts
    from storage.repository import recent_dead_letters as recent

    database = app.open_database(settings)
    letters = database.read(lambda s: recent(s, limit=args.limit, include_replayed=args.all))
    pending, replayed = database.read(counts)
    if args.format == "json":
        for letter in letters:
            print(json.dumps({
                "id": letter.id, "created_at": letter.created_at.isoformat(), "error": letter.error,
                "topic": letter.kafka_topic, "partition": letter.kafka_partition, "offset": letter.kafka_offset,
                "raw_size": letter.raw_size, "truncated": letter.truncated,
                "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
                "raw_preview": ascii(letter.raw[:PREVIEW_BYTES])[2:-1],
            }))
    else:
        print(f"{'id':>8}  {'created (UTC)':19}  {'topic:partition:offset':28}  {'bytes':>9}  {'replayed':8}  error")
        for letter in letters:
            where = (f"{letter.kafka_topic}:{letter.kafka_partition}:{letter.kafka_offset}"
                     if letter.kafka_topic is not None else "-")
            print(f"{letter.id:>8}  {letter.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}  "
                  f"{_printable(where, 28):28}  {letter.raw_size:>9}  {'yes' if letter.replayed_at else 'no':8}  "
                  f"{_printable(letter.error, 100)}")
        print(f"({pending} pending, {replayed} replayed)")
    return 0


@dataclass(frozen=True, slots=True)
class _LetterRecord:
    """A dead letter as the pipeline's Record: its bytes and original Kafka position, plus its row id."""

    value: bytes
    topic: str | None
    partition: int | None
    offset: int | None
    letter_id: int


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import app
    from storage.repository import StoredDeadLetter, mark_replayed, store_batch
    from storage.repository import pending_dead_letters as pending_after

    product = app.build(settings)
    database, pipeline = product.database, product.pipeline
    totals = {"read": 0, "replayed": 0, "new_articles": 0, "still_invalid": 0, "truncated": 0}
    after = 0
    while args.limit is None or totals["read"] < args.limit:
        size = args.batch_size if args.limit is None else min(args.batch_size, args.limit - totals["read"])
        letters: list[StoredDeadLetter] = database.read(partial(pending_after, after_id=after, limit=size))
        if not letters:
            break
        after = letters[-1].id
        totals["read"] += len(letters)
        whole = [letter for letter in letters if not letter.truncated]
        totals["truncated"] += len(letters) - len(whole)
        decoded = pipeline.prepare([
            _LetterRecord(w.raw, w.kafka_topic, w.kafka_partition, w.kafka_offset, w.id) for w in whole
        ])
        totals["still_invalid"] += len(decoded.dead)
        ids = [record.letter_id for _, record in decoded.valid if isinstance(record, _LetterRecord)]
        totals["replayed"] += len(ids)
        if args.dry_run or not ids:
            continue
        stamp = datetime.now(UTC)

        def txn(session: Any, items: list[Any] = decoded.items, ids: list[int] = ids, stamp: datetime = stamp) -> None:
            totals["new_articles"] += store_batch(session, items)
            mark_replayed(session, ids, stamp)

        database.transaction(txn)
    print(json.dumps({**totals, "dry_run": bool(args.dry_run)}))
    return 0
