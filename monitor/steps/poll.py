"""The first step: poll the consumer, collect records into batches (by count, bytes and age), hand each batch
on. The one place of backpressure: a batch the next step refuses is held, the partitions are paused and the
consumer is polled on (so the group keeps this member) until the batch is taken. Also watches the broker:
kafka-python reconnects by itself and its poll raises nothing while the broker is gone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from consumers.batching import Batcher
from consumers.source import BrokerUnavailable, RawMessage, UnreadableRecords
from monitor import metrics
from monitor.steps.backoff import Availability, Backoff, broker_health
from monitor.steps.step import JOIN_PAUSE_S, MessageRejected, Step

log = logging.getLogger("monitor.daemon")

# With no live connection for this long we call the broker unreachable (a shorter gap is a routine reconnect).
BROKER_GRACE_S = 5.0
HELD_POLL_MS = 100  # poll timeout while a batch waits for room downstream
LAG_EVERY_S = 5.0
FLUSH_TIMEOUT_S = 30.0  # before stopping on unreadable records: store and commit what was read before them


class Consumer(Protocol):
    """What the poll step needs of consumers.source.KafkaSource."""

    def poll(self, max_records: int, timeout_ms: int) -> list[RawMessage]: ...
    def pause_all(self) -> None: ...
    def resume_all(self) -> None: ...
    def connections(self) -> int | None: ...
    def lag(self) -> dict[tuple[str, int], int]: ...


def _value_size(record: RawMessage) -> int:
    return len(record.value) if record.value is not None else 0


class PollStep:
    """The head of the chain: it has no ``submit`` (nothing comes before it); ``poll`` drives it."""

    def __init__(
        self,
        consumer: Consumer,
        next_step: Step[list[RawMessage]],
        batch_max_size: int,
        batch_max_wait_s: float,
        batch_max_bytes: int | None = None,
        *,
        broker: Availability | None = None,
        wait: Callable[[float], object] = time.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.next = next_step
        self.batcher: Batcher[RawMessage] = Batcher(batch_max_size, batch_max_wait_s, now,
                                                    max_bytes=batch_max_bytes, size_of=_value_size)
        self.broker = broker or broker_health()
        self._wait = wait  # the broker backoff's sleep: the daemon passes its stop event's wait
        self._now = now
        self._held: list[RawMessage] | None = None  # a batch the next step refused
        self.paused = False
        self._backoff = Backoff()
        self._checked_at = 0.0
        self._no_connection_since: float | None = None
        self._lag_at = 0.0

    def poll(self) -> None:
        if self._held is not None:
            self._offer_held()
        if self._held is not None:
            timeout_ms = HELD_POLL_MS
        else:
            timeout_ms = int(1000 * (self.batcher.remaining_wait() if len(self.batcher) else self.batcher.max_wait_s))
        room = self.batcher.max_size - len(self.batcher)
        self.batcher.add(self._poll_consumer(max(1, room), max(1, timeout_ms)))
        self._watch_broker()
        self.next.poll()  # a finished write is committed now, not when the next batch is ready
        if self._held is None and self.batcher.ready():
            self._offer(self.batcher.take())
        if self._now() - self._lag_at > LAG_EVERY_S:
            self._lag_at = self._now()
            for (topic, partition), lag in self.consumer.lag().items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)

    def _offer(self, batch: list[RawMessage]) -> None:
        try:
            self.next.submit(batch)
        except MessageRejected:
            self._held = batch
            if not self.paused:
                self.consumer.pause_all()
                self.paused = True

    def _offer_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._offer(held)
        if self._held is None and self.paused:
            self.consumer.resume_all()
            self.paused = False

    def _poll_consumer(self, max_records: int, timeout_ms: int) -> list[RawMessage]:
        """A poll that survives the broker going away (we back off), and that hands on everything read
        before records it cannot read, so a restart begins exactly at them."""
        try:
            records = self.consumer.poll(max_records=max_records, timeout_ms=timeout_ms)
        except BrokerUnavailable as e:
            self.broker.lost(str(e))
            self._wait(self._backoff.next())
            return []
        except UnreadableRecords:
            self._flush(FLUSH_TIMEOUT_S)
            raise
        if records:
            self.broker.reachable()
        self._backoff.reset()
        return records

    def _watch_broker(self) -> None:
        """No live connection for BROKER_GRACE_S: the broker is lost; a connection again: it is back."""
        now = self._now()
        if now - self._checked_at < 1.0:
            return
        self._checked_at = now
        connections = self.consumer.connections()
        if connections is None:
            return
        if connections > 0:
            self._no_connection_since = None
            self.broker.reachable()
        elif self._no_connection_since is None:
            self._no_connection_since = now
        elif now - self._no_connection_since >= BROKER_GRACE_S:
            self.broker.lost(f"no connection for {now - self._no_connection_since:.0f}s")

    def _flush(self, timeout: float) -> None:
        """Hand on every record read so far and finish the rest of the chain."""
        deadline = time.monotonic() + timeout
        while (self._held is not None or len(self.batcher)) and time.monotonic() < deadline:
            if self._held is None:
                self._held = self.batcher.take()
            self.next.poll()
            self._offer_held()
            if self._held is not None:
                time.sleep(JOIN_PAUSE_S)
        self.next.join(max(0.0, deadline - time.monotonic()))

    def join(self, timeout: float) -> None:
        """Stopping: what is only batched here was never stored, so its offsets stay uncommitted and the group
        re-delivers it; what the next steps hold is finished within ``timeout``."""
        abandoned = len(self.batcher) + len(self._held or ())
        if abandoned:
            log.info("shutdown: abandoning %d uncommitted messages (they will be re-delivered)", abandoned)
        self._held = None
        self.next.join(timeout)

    def close(self) -> None:
        self.next.close()
