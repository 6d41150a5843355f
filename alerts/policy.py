"""Fire / repeat / resolve: a pure function of (state, surge, now) that says what to do and why
(Alertmanager's shape: repeat and resolve intervals, hysteresis between the fire and resolve thresholds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerts.surge import Surge, Thresholds
from storage.alerts_repo import Alert

Action = Literal["fire", "repeat", "resolve", "none"]
RULE = "negative_surge"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str


def fired(rule: str, surge: Surge, now: datetime, alert_id: int = 0) -> Alert:
    """The alert ``surge`` opens at ``now`` (``alert_id``: 0 until the database gives it one)."""
    return Alert(alert_id, rule, surge.scope, surge.key, surge.window_start, surge.window_end, now, now, None,
                 surge.negative, surge.total, surge.baseline.share, surge.p_value, surge.odds_ratio)


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
