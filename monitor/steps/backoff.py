"""Exponential backoff, and the broker's health as the poll and commit steps see it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from monitor import metrics

# The operators' log lines of the stream keep the daemon's name (`monitor.daemon: database unavailable`).
log = logging.getLogger("monitor.daemon")


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


class BrokerHealth:
    """One ERROR line per broker outage, whichever sign of it comes first (a poll, a commit, no connection),
    and one line when it is back; the `monitor_kafka_up` gauge."""

    def __init__(self) -> None:
        self.ok = True

    def lost(self, reason: str) -> None:
        if self.ok:
            log.error("kafka broker unreachable (%s); retrying with backoff", reason)
            self.ok = False
        metrics.KAFKA_UP.set(0)

    def reachable(self) -> None:
        if not self.ok:
            log.info("kafka broker reachable again")
            self.ok = True
        metrics.KAFKA_UP.set(1)
