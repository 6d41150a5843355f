"""`monitor run`'s loop: connect, drive the chain of steps (monitor/steps/: poll -> decode -> classify -> store
-> commit) until a signal says stop, then finish what was accepted and close.

Error kinds (arroyo): an invalid message is dead-lettered by decode and the stream goes on; a transient
database error is retried by the store step while the poll step pauses consumption (the batch is kept, the
model is not re-run); a broker outage is waited out by the poll step and the commit step; too many invalid
messages trip the circuit breaker (monitor.breaker) in decode, which stops the daemon before that batch is
stored or committed; anything else stops the daemon loudly. Offsets are committed only after the database
commit, so a crash re-delivers at most the batches in flight, and idempotent upserts absorb that.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

from consumers.source import BrokerUnavailable, KafkaSource
from monitor.breaker import CircuitOpen
from monitor.steps.backoff import Backoff
from monitor.steps.chain import Chain
from monitor.steps.commit import StreamStats

log = logging.getLogger(__name__)

STOP_JOIN_S = 5.0  # on stop: at most this long to finish the batches taken (a database outage: they are left)
FLUSH_JOIN_S = 30.0  # before stopping on the breaker: store and commit the good batches before it


class ChainFactory(Protocol):
    def __call__(self, source: KafkaSource, stats: StreamStats, wait: Callable[[float], object]) -> Chain: ...


class Daemon:
    def __init__(self, connect: Callable[[], KafkaSource], make_chain: ChainFactory) -> None:
        self.connect = connect
        self.make_chain = make_chain
        self.stopping = threading.Event()
        self.stats = StreamStats()
        self.source: KafkaSource | None = None  # for /healthz (the assignment)
        self.chain: Chain | None = None

    def stop(self) -> None:
        """Safe from a signal handler: the loop notices within one poll timeout."""
        self.stopping.set()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT stop the daemon cleanly (main thread only)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def run(self) -> None:
        source = self._connect()
        if source is None:
            return  # stopped while waiting for the broker
        self.source = source
        chain = self.chain = self.make_chain(source, self.stats, self.stopping.wait)
        try:
            while not self.stopping.is_set():
                chain.poll()
            chain.join(STOP_JOIN_S)  # the batch being stored: finish it, commit its offsets
        except CircuitOpen as e:
            log.error("%s; stopping without storing or committing this batch. Fix the producer, or raise the "
                      "limit to dead-letter them (then `monitor deadletters replay` after a decoder fix)", e)
            chain.join(FLUSH_JOIN_S)  # the batches before it are good: a restart begins at the one that tripped
            raise
        finally:
            chain.close()
            source.close()
            log.info("consumer closed; stored %d articles, %d dead letters", self.stats.stored,
                     self.stats.dead_letters)

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
