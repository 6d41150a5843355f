"""Fire / repeat / resolve: a pure function of (state, surge, now) that says what to do and why
(Alertmanager's shape: repeat and resolve intervals, hysteresis between the fire and resolve thresholds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerts.surge import Surge, Thresholds

Action = Literal["fire", "repeat", "resolve", "none"]
RULE = "negative_surge"


@dataclass(frozen=True, slots=True)
class Alert:
    """An open (or just resolved) alert as stored: one per (rule, scope, key, window it fired in)."""

    id: int
    rule: str
    scope: str
    key: str
    window_start: datetime
    window_end: datetime
    fired_at: datetime
    last_notified_at: datetime
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str


def decide(alert: Alert | None, surge: Surge, now: datetime, t: Thresholds) -> Decision:
    """What to do about one key. `alert` is its open alert, if any."""
    if alert is None or not alert.open:
        if surge.fires:
            return Decision("fire", f"surge: {surge.negative}/{surge.total} negative, odds ratio "
                                    f"{surge.odds_ratio:.1f}, adjusted p {surge.p_adjusted:.2g}")
        return Decision("none", f"no alert: {surge.reason}")
    if not surge.holds:
        return Decision("resolve", f"odds ratio {surge.odds_ratio:.2f} or p {surge.p_value:.2g} past the "
                                   f"resolve threshold ({t.resolve_odds_ratio}, {t.resolve_p_value})")
    if now - alert.last_notified_at >= t.repeat_interval:
        return Decision("repeat", f"still surging after {now - alert.fired_at}")
    return Decision("none", "open; within the repeat interval")
