"""`monitor run`: poll Kafka, batch by size and time, process, write, then commit offsets.

Error kinds (arroyo): an invalid message is dead-lettered by the pipeline and the stream goes on; a
transient database error pauses consumption and retries with backoff (the batch is kept, the model is
not re-run); too many invalid messages trip the circuit breaker (monitor.breaker), which stops the
daemon before that batch is stored or committed; anything else stops the daemon loudly. Offsets are
committed only after the database commit, so a crash re-delivers at most the in-flight batches, and
idempotent upserts absorb that.

Overlap: one writer thread stores batch N while this thread polls, decodes and classifies batch N+1
(psycopg waits on the server without the GIL). At most one batch is in flight, and its offsets are
committed by this thread (kafka-python's consumer is not thread-safe) once its write is done, so offsets
still follow storage in order. A failed write is retried here, synchronously, with the outage handling
below; nothing new is written meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from consumers.batching import Batcher
from consumers.source import BrokerUnavailable, CommitFailed, KafkaSource, RawMessage, UnreadableRecords
from monitor import metrics
from monitor.breaker import CircuitOpen, InvalidRatioBreaker
from monitor.pipeline import Decoded, Pipeline, next_offsets

log = logging.getLogger(__name__)

# kafka-python reconnects by itself and its poll() raises nothing while the broker is gone; with no live
# connection for this long we call the broker unreachable (a shorter gap is a routine reconnect).
BROKER_GRACE_S = 5.0
COMMIT_RETRY_S = 2.0  # between tries to commit the offsets an outage left uncommitted


@dataclass
class Backoff:
    first: float = 0.5
    cap: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.first if self.current == 0 else min(self.cap, self.current * 2)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


@dataclass
class DaemonStats:
    batches: int = 0
    consumed: int = 0
    stored: int = 0
    dead_letters: int = 0
    last_batch_at: float | None = None  # time.time() of the last stored batch


@dataclass
class InFlight:
    """A batch handed to the writer thread: committed (offsets) by the poll thread once ``write`` is done."""

    records: list[RawMessage]
    decoded: Decoded
    started: float
    write: Future[int]


class Daemon:
    def __init__(
        self,
        connect: Callable[[], KafkaSource],
        pipeline: Pipeline,
        is_transient: Callable[[BaseException], bool],
        batch_max_size: int,
        batch_max_wait_s: float,
        breaker: InvalidRatioBreaker | None = None,
        batch_max_bytes: int | None = None,
    ) -> None:
        self.connect = connect
        self.pipeline = pipeline
        self.is_transient = is_transient
        self.batch_max_size = batch_max_size
        self.batch_max_wait_s = batch_max_wait_s
        self.batch_max_bytes = batch_max_bytes
        self.breaker = breaker
        self.stopping = threading.Event()
        self.stats = DaemonStats()
        self.source: KafkaSource | None = None
        self.db_ok = True
        self.broker_ok = True
        self.broker_backoff = Backoff()
        self._broker_checked_at = 0.0
        self._no_connection_since: float | None = None
        # Records a paused poll still returned (a partition assigned by a rebalance is not paused):
        # they go into the next batch, never dropped.
        self.carry: list[RawMessage] = []
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self.in_flight: InFlight | None = None
        # Offsets of stored batches whose commit failed in a broker outage. The consumer's position is
        # already past them, so nothing re-reads them in this process: they are committed with the next
        # batch, or alone once the broker is back (a quiet partition has no next batch), or at shutdown.
        self.unacknowledged: dict[tuple[str, int], int] = {}
        self._commit_retry_at = 0.0

    def stop(self) -> None:
        """Safe from a signal handler: the loop notices within one poll timeout."""
        self.stopping.set()

    def run(self) -> None:
        self.source = self._connect()
        if self.source is None:
            return  # stopped while waiting for the broker
        try:
            self._loop(self.source)
            self._settle(self.source)  # the last batch handed to the writer: store it, commit its offsets
            if self.unacknowledged and self.broker_ok:
                self._commit(self.source, {})  # one last try for offsets an outage left uncommitted
        except CircuitOpen as e:
            log.error("%s; stopping without storing or committing this batch. Fix the producer, or raise the "
                      "limit to dead-letter them (then `monitor deadletters replay` after a decoder fix)", e)
            raise
        finally:
            self._abandon_in_flight()
            self.source.close()
            log.info("consumer closed; stored %d articles, %d dead letters", self.stats.stored, self.stats.dead_letters)

    def _connect(self) -> KafkaSource | None:
        backoff = Backoff()
        while not self.stopping.is_set():
            try:
                source = self.connect()
                if backoff.current:
                    log.info("kafka broker reachable again")
                return source
            except BrokerUnavailable as e:
                wait = backoff.next()
                log.warning("kafka broker unavailable (%s); retrying in %.1fs", e, wait)
                self.stopping.wait(wait)
        return None

    def _loop(self, source: KafkaSource) -> None:
        batcher: Batcher[RawMessage] = Batcher(self.batch_max_size, self.batch_max_wait_s,
                                               max_bytes=self.batch_max_bytes, size_of=_value_size)
        last_lag = 0.0
        while not self.stopping.is_set():
            wait_ms = int(1000 * (batcher.remaining_wait() if len(batcher) else self.batch_max_wait_s))
            room = self.batch_max_size - len(batcher)
            if self.carry:
                batcher.add(self.carry)
                self.carry = []
            try:
                batcher.add(self._poll(source, max(1, room), max(1, wait_ms)))
            except UnreadableRecords:
                # Store and commit what was read before them, so that a restart begins exactly there.
                while len(batcher):
                    self._process(source, batcher.take())
                self._settle(source)
                raise
            self._watch_broker(source)
            if self.in_flight is not None and self.in_flight.write.done():
                self._settle(source)  # commit as soon as it is stored, not when the next batch is ready
            elif self.unacknowledged and self.broker_ok and time.monotonic() >= self._commit_retry_at:
                self._commit(source, {})
            if len(batcher) and batcher.ready():
                self._process(source, batcher.take())
            if time.monotonic() - last_lag > 5:
                last_lag = time.monotonic()
                for (topic, partition), lag in source.lag().items():
                    metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        # Shutdown: whatever is still in the batcher was never stored, so its offsets stay uncommitted
        # and the group re-delivers it. Nothing past what is stored is ever committed.
        if len(batcher):
            log.info("shutdown: abandoning %d uncommitted messages (they will be re-delivered)", len(batcher))

    def _poll(self, source: KafkaSource, max_records: int, timeout_ms: int) -> list[RawMessage]:
        """A poll that survives the broker going away: kafka-python reconnects by itself; we back off."""
        try:
            records = source.poll(max_records=max_records, timeout_ms=timeout_ms)
        except BrokerUnavailable as e:
            wait = self.broker_backoff.next()
            self._broker_lost(str(e))
            self.stopping.wait(wait)
            return []
        if records:
            self._broker_reachable()
        self.broker_backoff.reset()
        return records

    def _watch_broker(self, source: KafkaSource) -> None:
        """One log line when the broker has been gone for BROKER_GRACE_S, one when it is back."""
        now = time.monotonic()
        if now - self._broker_checked_at < 1.0:
            return
        self._broker_checked_at = now
        connections = source.connections()
        if connections is None:
            return
        if connections > 0:
            self._no_connection_since = None
            self._broker_reachable()
            return
        if self._no_connection_since is None:
            self._no_connection_since = now
        elif now - self._no_connection_since >= BROKER_GRACE_S:
            self._broker_lost(f"no connection for {now - self._no_connection_since:.0f}s")

    def _broker_lost(self, reason: str) -> None:
        """One ERROR line per outage, whichever sign of it comes first (poll, commit or no connection)."""
        if self.broker_ok:
            log.error("kafka broker unreachable (%s); retrying with backoff", reason)
            self.broker_ok = False
        metrics.KAFKA_UP.set(0)

    def _broker_reachable(self) -> None:
        if not self.broker_ok:
            log.info("kafka broker reachable again")
            self.broker_ok = True
        metrics.KAFKA_UP.set(1)

    def _process(self, source: KafkaSource, records: list[RawMessage]) -> None:
        started = time.perf_counter()
        decoded = self.pipeline.prepare(records)  # overlaps the previous batch's write
        if self.breaker is not None:
            self.breaker.record(valid=len(records) - len(decoded.dead), invalid=len(decoded.dead))
            try:
                self.breaker.check()  # raises before anything of this batch is stored or committed
            except CircuitOpen:
                self._settle(source)  # the batch before it is good: store and commit it, so a restart
                raise  # begins exactly at the batch that tripped
        if not self._settle(source):
            return  # stopping during a database outage: nothing more is written or committed
        self.in_flight = InFlight(records, decoded, started, self.writer.submit(self.pipeline.write, decoded))

    def _settle(self, source: KafkaSource) -> bool:
        """Wait for the batch in flight, retrying its write through an outage, then commit its offsets.

        False if the daemon is stopping while the database is down (nothing committed: re-delivered).
        """
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return True
        try:
            stored = flight.write.result()
            metrics.DB_AVAILABLE.set(1)
        except Exception as e:
            if not self.is_transient(e):
                raise
            retried = self._write_with_retry(source, flight.decoded, first_error=e)
            if retried is None:
                return False
            stored = retried
        result = self.pipeline.account(flight.records, flight.decoded, stored, flight.started)
        self._commit(source, next_offsets(flight.records))
        self.stats.batches += 1
        self.stats.consumed += result.consumed
        self.stats.stored += result.stored
        self.stats.dead_letters += result.dead_letters
        self.stats.last_batch_at = time.time()
        log.debug("batch: %d consumed, %d stored, %d dead letters in %.3fs",
                  result.consumed, result.stored, result.dead_letters, result.seconds)
        return True

    def _commit(self, source: KafkaSource, offsets: dict[tuple[str, int], int]) -> None:
        """Commit a stored batch's offsets together with any an earlier outage left uncommitted."""
        offsets = offsets | {part: max(offset, offsets.get(part, 0)) for part, offset in self.unacknowledged.items()}
        if not offsets:
            return
        try:
            source.commit(offsets)
            self.unacknowledged = {}
        except BrokerUnavailable as e:
            # The batches ARE stored. Keep their offsets and try again (a restart before then re-reads
            # them, and the idempotent upsert drops the copies).
            self.unacknowledged = offsets
            self._commit_retry_at = time.monotonic() + COMMIT_RETRY_S
            self._broker_lost(f"{e}; offsets of stored batches will be committed when it is back")
        except CommitFailed as e:  # a rebalance can revoke partitions mid-batch
            # The batches ARE stored; the partitions' new owner re-reads them and the upsert drops the copies.
            self.unacknowledged = {}
            log.warning("offset commit failed after store (%s); re-delivery will be deduplicated", e)

    def _abandon_in_flight(self) -> None:
        """On the way out after an error: let a running write finish (it commits or rolls back as a whole)
        but commit no offsets for it; the group re-delivers that batch and the upsert absorbs it."""
        if self.in_flight is not None:
            self.in_flight.write.exception()  # waits; its outcome no longer matters
            self.in_flight = None
        self.writer.shutdown(wait=True)

    def _write_with_retry(
        self, source: KafkaSource, decoded: Decoded, first_error: BaseException | None = None
    ) -> int | None:
        """Write until it succeeds, pausing consumption meanwhile; None if stopping first.

        ``first_error``: the writer thread's failed attempt, which counts as the first one here.
        """
        backoff = Backoff()
        error = first_error
        while True:
            if error is None:
                try:
                    stored = self.pipeline.write(decoded)
                except Exception as e:
                    if not self.is_transient(e):
                        raise
                    error = e
            if error is not None:
                if self.db_ok:  # one line per state change, not one per attempt
                    log.error("database unavailable (%s); pausing consumption and retrying", _one_line(error))
                    self.db_ok = False
                    metrics.DB_AVAILABLE.set(0)
                    source.pause_all()
                error = None
                wait = backoff.next()
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline:  # keep polling (paused) so the group keeps us
                    if self.stopping.is_set():
                        return None
                    self.carry += source.poll(max_records=100, timeout_ms=200)
                continue
            if not self.db_ok:
                log.info("database available again; resuming consumption")
                self.db_ok = True
                source.resume_all()
            metrics.DB_AVAILABLE.set(1)
            return stored


def _value_size(record: RawMessage) -> int:
    return len(record.value) if record.value is not None else 0


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
