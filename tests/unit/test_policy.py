"""alerts.policy: fire / repeat / resolve decisions with a fake clock, table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.policy import decide
from alerts.surge import Baseline, Surge, Thresholds
from storage.alerts_repo import Alert

T = Thresholds(repeat_interval=timedelta(hours=4))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SURGE = Surge("topic", "Earnings", T0 - T.window, T0, 30, 60, Baseline(0.25, 100, 300, 10, 40, 4, "hour_of_week"),
              3.0, 1e-8, 1e-7, fires=True, holds=True, reason="surge")
QUIET = replace(SURGE, negative=10, odds_ratio=1.0, p_value=0.5, p_adjusted=1.0, fires=False, holds=False,
                reason="odds ratio 1.00 < 2.0")
LINGERING = replace(SURGE, odds_ratio=1.7, p_value=0.01, p_adjusted=0.2, fires=False, holds=True, reason="p")


def alert(fired: timedelta, notified: timedelta | None = None, resolved: bool = False) -> Alert:
    return Alert(1, "negative_surge", "topic", "Earnings", T0 - T.window, T0, T0 + fired,
                 T0 + (notified if notified is not None else fired), T0 if resolved else None)


@pytest.mark.parametrize(
    ("state", "surge", "clock", "action"),
    [
        (None, SURGE, timedelta(0), "fire"),
        (None, QUIET, timedelta(0), "none"),
        (None, LINGERING, timedelta(0), "none"),  # between the thresholds: no new alert
        (alert(timedelta(0)), SURGE, timedelta(minutes=1), "none"),  # open, within repeat interval
        (alert(timedelta(0)), SURGE, timedelta(hours=3, minutes=59), "none"),
        (alert(timedelta(0)), SURGE, timedelta(hours=4), "repeat"),
        (alert(timedelta(0), timedelta(hours=4)), SURGE, timedelta(hours=7), "none"),  # repeat resets the clock
        (alert(timedelta(0), timedelta(hours=4)), SURGE, timedelta(hours=8), "repeat"),
        (alert(timedelta(0)), LINGERING, timedelta(minutes=30), "none"),  # hysteresis: still holds
        (alert(timedelta(0)), QUIET, timedelta(minutes=30), "resolve"),
        (alert(timedelta(0), resolved=True), SURGE, timedelta(hours=1), "fire"),  # a resolved one is history
    ],
)
def test_decide(state: Alert | None, surge: Surge, clock: timedelta, action: str) -> None:
    decision = decide(state, surge, T0 + clock, T)
    assert decision.action == action, decision.reason
    assert decision.reason


def test_a_surge_fires_once_then_resolves_once_with_a_fake_clock() -> None:
    """Drive the policy through a whole episode the way the job does: state carried between runs."""
    timeline = [SURGE] * 5 + [LINGERING] * 3 + [QUIET] * 3 + [SURGE]
    state: Alert | None = None
    actions = []
    for minute, surge in enumerate(timeline):
        now = T0 + timedelta(minutes=minute)
        d = decide(state, surge, now, T)
        actions.append(d.action)
        if d.action == "fire":
            state = Alert(minute, "negative_surge", "topic", "Earnings", now - T.window, now, now, now)
        elif d.action == "resolve" and state is not None:
            state = replace(state, resolved_at=now)
    assert actions == ["fire"] + ["none"] * 7 + ["resolve", "none", "none", "fire"]
