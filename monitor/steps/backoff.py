"""Exponential backoff, and the health of what the stream waits out: the broker (poll and commit steps) and
the database (store step)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import Gauge

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


class Availability:
    """A dependency the stream waits out (the broker, the database): one ERROR line when it goes, whichever
    sign of it comes first, one line when it is back, and its gauge."""

    def __init__(self, gauge: Gauge, lost: str, back: str) -> None:
        self.gauge = gauge
        self._lost = lost  # a %-format with the reason
        self._back = back
        self.ok = True

    def lost(self, reason: str) -> None:
        if self.ok:  # one line per state change, not one per attempt
            log.error(self._lost, reason)
            self.ok = False
        self.gauge.set(0)

    def reachable(self) -> None:
        if not self.ok:
            log.info(self._back)
            self.ok = True
        self.gauge.set(1)


def broker_health() -> Availability:
    return Availability(metrics.KAFKA_UP, "kafka broker unreachable (%s); retrying with backoff",
                        "kafka broker reachable again")


def database_health() -> Availability:
    return Availability(metrics.DB_AVAILABLE, "database unavailable (%s); pausing consumption and retrying",
                        "database available again; resuming consumption")
