"""The last step: commit the offsets of each batch the store step confirmed, and count it. The one place
of commit retry: offsets whose commit failed in a broker outage are kept and committed with the next batch,
or alone once the broker is back (a quiet partition has no next batch), or when the chain is joined."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from consumers.source import BrokerUnavailable, CommitFailed
from monitor.pipeline import Pipeline, next_offsets
from monitor.steps.backoff import Availability
from monitor.steps.step import Batch

log = logging.getLogger("monitor.daemon")

COMMIT_RETRY_S = 2.0  # between tries to commit the offsets an outage left uncommitted
Offsets = dict[tuple[str, int], int]


@dataclass
class StreamStats:
    batches: int = 0
    consumed: int = 0
    stored: int = 0
    dead_letters: int = 0
    last_batch_at: float | None = None  # time.time() of the last stored batch


class CommitStep:
    def __init__(self, commit: Callable[[Offsets], None], broker: Availability, stats: StreamStats, *,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.commit, self.broker, self.stats, self._now = commit, broker, stats, now
        # The consumer's position is already past these, so nothing re-reads them in this process.
        self.unacknowledged: Offsets = {}
        self._retry_at = 0.0

    def submit(self, batch: Batch) -> None:
        assert batch.stored is not None, "commit sees only what store confirmed"
        self._commit(next_offsets(batch.records))
        result = Pipeline.account(batch.records, batch.decoded, batch.stored, batch.started)
        self.stats.batches += 1
        self.stats.consumed += result.consumed
        self.stats.stored += result.stored
        self.stats.dead_letters += result.dead_letters
        self.stats.last_batch_at = time.time()
        log.debug("batch: %d consumed, %d stored, %d dead letters in %.3fs",
                  result.consumed, result.stored, result.dead_letters, result.seconds)

    def poll(self) -> None:
        if self.unacknowledged and self.broker.ok and self._now() >= self._retry_at:
            self._commit({})

    def join(self, timeout: float) -> None:
        if self.unacknowledged and self.broker.ok:
            self._commit({})  # one last try for offsets an outage left uncommitted

    def close(self) -> None:
        pass

    def _commit(self, offsets: Offsets) -> None:
        """Commit a stored batch's offsets together with any an earlier outage left uncommitted."""
        offsets = offsets | {part: max(offset, offsets.get(part, 0)) for part, offset in self.unacknowledged.items()}
        if not offsets:
            return
        try:
            self.commit(offsets)
            self.unacknowledged = {}
        except BrokerUnavailable as e:
            # The batches ARE stored. Keep their offsets and try again (a restart before then re-reads
            # them, and the idempotent upsert drops the copies).
            self.unacknowledged = offsets
            self._retry_at = self._now() + COMMIT_RETRY_S
            self.broker.lost(f"{e}; offsets of stored batches will be committed when it is back")
        except CommitFailed as e:  # a rebalance can revoke partitions mid-batch
            # The batches ARE stored; the partitions' new owner re-reads them and the upsert drops the copies.
            self.unacknowledged = {}
            log.warning("offset commit failed after store (%s); re-delivery will be deduplicated", e)
