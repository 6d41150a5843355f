"""The issue's detection goals on generated seasonal news (monitor/surgegen.py), replayed in memory through
the same detection and policy as the live job. Small here (seconds); bench/alerts.py runs more weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.backtest import replay
from alerts.history import History
from alerts.surge import Thresholds
from monitor.surgegen import Injected, generate_weeks, score

T = Thresholds()
START = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday; three weeks of history, then a week judged
WEEK3 = START + timedelta(weeks=3)
STEP = timedelta(minutes=10)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return WEEK3 + timedelta(days=day, hours=hour, minutes=minute)


INJECTED = [
    Injected("ticker", "CTSB", at(0, 3)),  # Monday night: quiet
    Injected("topic", "Earnings", at(1, 13, 30)),  # Tuesday, the US open: the busiest hour
    Injected("market", "market", at(2, 2)),
    Injected("ticker", "TREY", at(3, 16)),
    Injected("topic", "Dividend", at(5, 10)),  # Saturday
    Injected("burst", "market", at(4, 13, 30)),  # Friday open, triple volume, usual mix
    Injected("burst", "market", at(4, 3)),  # Friday night, triple volume, usual mix
]


def test_goals_on_one_generated_week() -> None:
    """Bursts (3x volume, usual mix) never alert and normal traffic makes at most one false alert a week.
    Detection of 3x surges within 2 windows is NOT yet reliable at these volumes (bench/alerts.py measures
    it across seeds: about 70%); this guards against getting worse: at least 2 of the 5 here, none late."""
    g = generate_weeks(START, 4, seed=3, busy_per_hour=300, injected=INJECTED)
    history = History.of(g.stories())
    events = list(replay(history, WEEK3, WEEK3 + timedelta(weeks=1), T, STEP))
    s = score(events, INJECTED, T.window)
    found = [d for d in s.detected.values() if d is not None]
    assert len(found) >= 2, s.detected
    assert all(d <= 2 * T.window for d in found)
    assert len(s.false_alerts) <= 1, s.false_alerts
    burst_fires = [e for e in events if e.event == "fire" and at(4, 2) <= e.at <= at(4, 16)]
    assert burst_fires == []
