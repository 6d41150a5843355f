"""Replay surge detection in event time (published_at) over stored or generated history.

The same History, detect() and decide() as the live job, stepping a clock from `since` to `until`; the
alert state lives in memory instead of the alerts table, and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alerts.detect import detect
from alerts.history import History, Key
from alerts.policy import RULE, decide, fired
from alerts.surge import Thresholds
from storage.alerts_repo import Alert, Story


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # "fire" | "resolve"
    scope: str
    key: str
    at: datetime
    window_start: datetime
    window_end: datetime
    negative: int
    total: int
    baseline: float
    p_value: float

    def json(self) -> dict[str, Any]:
        return {
            "event": self.event, "scope": self.scope, "key": self.key, "at": self.at.isoformat(),
            "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
            "negative": self.negative, "total": self.total, "baseline": round(self.baseline, 4),
            "p_value": self.p_value,
        }


def replay(
    stories: Iterable[Story] | History, since: datetime, until: datetime, t: Thresholds, step: timedelta
) -> Iterator[Event]:
    """Events of detection runs at since, since + step, ... < until. `stories` should reach back
    `t.lookback` before `since` for the seasonal baseline (less works: it falls back)."""
    history = stories if isinstance(stories, History) else History.of(stories)
    open_alerts: dict[Key, Alert] = {}
    now = since
    n = 0
    while now < until:
        for surge in detect(history, now, t, also=open_alerts):
            key = (surge.scope, surge.key)
            decision = decide(open_alerts.get(key), surge, now, t)
            if decision.action == "fire":
                n += 1
                open_alerts[key] = fired(RULE, surge, now, n)
            elif decision.action == "resolve":
                open_alerts.pop(key, None)
            elif decision.action == "repeat":
                open_alerts[key] = replace(open_alerts[key], last_notified_at=now)
                continue  # a re-notification is not a new event
            else:
                continue
            yield Event(decision.action, surge.scope, surge.key, now, surge.window_start, surge.window_end,
                        surge.negative, surge.total, surge.baseline.share, surge.p_value)
        now += step
