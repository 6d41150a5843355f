"""One transaction per batch (articles, classifications, dead letters) on a writer thread, one batch in
flight: while it is written, the caller's thread polls, decodes and classifies the next one (psycopg waits
on the server without the GIL). The one place of database retry: a write that fails with a transient error
is retried with backoff, the batch kept; meanwhile ``submit`` refuses, so the poll step pauses consumption.
Only a committed transaction goes on to the commit step."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

from monitor.pipeline import Decoded
from monitor.steps.backoff import Availability, Backoff, database_health
from monitor.steps.step import Batch, MessageRejected, Step

log = logging.getLogger("monitor.daemon")

SUBMIT_WAIT_S = 1.0  # how long submit waits for the write in flight before it refuses the next batch


@dataclass
class _Flight:
    batch: Batch
    write: futures.Future[int] | None  # None: failed, waiting for retry_at
    retry_at: float = 0.0


class StoreStep:
    def __init__(
        self,
        next_step: Step[Batch],
        write: Callable[[Decoded], int],
        is_transient: Callable[[BaseException], bool],
        *,
        submit_wait_s: float = SUBMIT_WAIT_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.next = next_step
        self.write = write
        self.is_transient = is_transient
        self.submit_wait_s = submit_wait_s
        self._now = now
        self._writer = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._flight: _Flight | None = None
        self._backoff = Backoff()
        self.database: Availability = database_health()

    def submit(self, batch: Batch) -> None:
        if self._flight is not None:
            self._settle(self.submit_wait_s)
            if self._flight is not None:
                raise MessageRejected
        self._flight = _Flight(batch, self._writer.submit(self.write, batch.decoded))

    def poll(self) -> None:
        if self._flight is not None:
            self._settle(0.0)
        self.next.poll()

    def _settle(self, wait: float) -> None:
        """Hand on the batch in flight if its write is done within ``wait``; a failed write waits for retry."""
        flight = self._flight
        assert flight is not None
        if flight.write is None:
            if self._now() < flight.retry_at:
                return
            flight.write = self._writer.submit(self.write, flight.batch.decoded)
        done, _ = futures.wait([flight.write], timeout=wait)
        if not done:
            return
        try:
            stored = flight.write.result()
        except Exception as e:
            if not self.is_transient(e):
                self._flight = None
                raise
            self.database.lost(_one_line(e))
            flight.write, flight.retry_at = None, self._now() + self._backoff.next()
            return
        self.database.reachable()
        self._backoff.reset()
        self._flight = None
        flight.batch.stored = stored
        self.next.submit(flight.batch)

    def join(self, timeout: float) -> None:
        """Finish the write in flight (no retry: stopping during an outage writes nothing more)."""
        deadline = time.monotonic() + timeout
        if self._flight is not None and self._flight.write is not None:
            self._settle(timeout)
        if self._flight is not None:
            log.info("stopping: the batch being stored is abandoned (not committed, so it will be re-delivered)")
            self._flight = None
        self.next.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Let a running write finish (it commits or rolls back as a whole); its offsets are not committed."""
        self._flight = None
        self._writer.shutdown(wait=True)
        self.next.close()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
