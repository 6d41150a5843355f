"""`monitor run`: poll Kafka, batch by size and time, process, write, then commit offsets.

Error kinds (arroyo): an invalid message is dead-lettered by the pipeline and the stream goes on; a
transient database error pauses consumption and retries with backoff (the batch is kept, the model is
not re-run); too many invalid messages trip the circuit breaker (monitor.breaker), which stops the
daemon before that batch is stored or committed; anything else stops the daemon loudly. Offsets are
committed only after the database commit, so a crash re-delivers at most the in-flight batch, and
idempotent upserts absorb that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from consumers.batching import Batcher
from consumers.source import BrokerUnavailable, CommitFailed, KafkaSource, RawMessage
from monitor import metrics
from monitor.breaker import CircuitOpen, InvalidRatioBreaker
from monitor.pipeline import Decoded, Pipeline, next_offsets

log = logging.getLogger(__name__)

# kafka-python reconnects by itself and its poll() raises nothing while the broker is gone; with no live
# connection for this long we call the broker unreachable (a shorter gap is a routine reconnect).
BROKER_GRACE_S = 5.0


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


class Daemon:
    def __init__(
        self,
        connect: Callable[[], KafkaSource],
        pipeline: Pipeline,
        is_transient: Callable[[BaseException], bool],
        batch_max_size: int,
        batch_max_wait_s: float,
        breaker: InvalidRatioBreaker | None = None,
    ) -> None:
        self.connect = connect
        self.pipeline = pipeline
        self.is_transient = is_transient
        self.batch_max_size = batch_max_size
        self.batch_max_wait_s = batch_max_wait_s
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

    def stop(self) -> None:
        """Safe from a signal handler: the loop notices within one poll timeout."""
        self.stopping.set()

    def run(self) -> None:
        self.source = self._connect()
        if self.source is None:
            return  # stopped while waiting for the broker
        try:
            self._loop(self.source)
        except CircuitOpen as e:
            log.error("%s; stopping without storing or committing this batch. Fix the producer, or raise the "
                      "limit to dead-letter them (then `monitor deadletters replay` after a decoder fix)", e)
            raise
        finally:
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
        batcher: Batcher[RawMessage] = Batcher(self.batch_max_size, self.batch_max_wait_s)
        last_lag = 0.0
        while not self.stopping.is_set():
            wait_ms = int(1000 * (batcher.remaining_wait() if len(batcher) else self.batch_max_wait_s))
            room = self.batch_max_size - len(batcher)
            if self.carry:
                batcher.add(self.carry)
                self.carry = []
            batcher.add(self._poll(source, max(1, room), max(1, wait_ms)))
            self._watch_broker(source)
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
            if self.broker_ok:
                log.error("kafka broker unreachable (%s); retrying with backoff", e)
                self.broker_ok = False
                metrics.KAFKA_UP.set(0)
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
        elif self.broker_ok and now - self._no_connection_since >= BROKER_GRACE_S:
            log.error("kafka broker unreachable (no connection for %.0fs); reconnecting with backoff",
                      now - self._no_connection_since)
            self.broker_ok = False
            metrics.KAFKA_UP.set(0)

    def _broker_reachable(self) -> None:
        if not self.broker_ok:
            log.info("kafka broker reachable again")
            self.broker_ok = True
        metrics.KAFKA_UP.set(1)

    def _process(self, source: KafkaSource, records: list[RawMessage]) -> None:
        started = time.perf_counter()
        decoded = self.pipeline.prepare(records)
        if self.breaker is not None:
            self.breaker.record(valid=len(records) - len(decoded.dead), invalid=len(decoded.dead))
            self.breaker.check()  # raises before anything of this batch is stored or committed
        stored = self._write_with_retry(source, decoded)
        if stored is None:
            return  # stopping during a database outage: nothing committed, the batch is re-delivered
        result = self.pipeline.account(records, decoded, stored, started)
        try:
            source.commit(next_offsets(records))
        except (CommitFailed, BrokerUnavailable) as e:  # a rebalance can revoke partitions mid-batch
            # The batch IS stored; the new owner re-reads it and the idempotent upsert drops the copies.
            log.warning("offset commit failed after store (%s); re-delivery will be deduplicated", e)
        self.stats.batches += 1
        self.stats.consumed += result.consumed
        self.stats.stored += result.stored
        self.stats.dead_letters += result.dead_letters
        self.stats.last_batch_at = time.time()
        log.debug("batch: %d consumed, %d stored, %d dead letters in %.3fs",
                  result.consumed, result.stored, result.dead_letters, result.seconds)

    def _write_with_retry(self, source: KafkaSource, decoded: Decoded) -> int | None:
        backoff = Backoff()
        while True:
            try:
                stored = self.pipeline.write(decoded)
            except Exception as e:
                if not self.is_transient(e):
                    raise
                if self.db_ok:  # one line per state change, not one per attempt
                    log.error("database unavailable (%s); pausing consumption and retrying", _one_line(e))
                    self.db_ok = False
                    metrics.DB_AVAILABLE.set(0)
                    source.pause_all()
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
