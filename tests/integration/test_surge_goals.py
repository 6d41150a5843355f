"""The issue's detection goals on generated seasonal weeks (newsgen/surges.py), replayed in memory through
the same detection and policy as the live job: bench/alerts.py's week (four weeks of history, then a week
with five 3x surges and two 3x volume bursts), one seed per test, a detection run every 10 minutes.

What is asserted, and why not more: bursts never alert and a week has at most one false alert; every
*qualifying* surge is found within two windows on every seed tested (Score.qualifies: its hour, as detection
reads it, holds at least 3x the key's expected baseline of negative stories, and at least
MONITOR_ALERT_MIN_NEGATIVE of them; the goal's "a negative rate at least 3x its baseline for an hour"); every
surge, qualifying or not, is found on seeds 3 and 9 (9 was not among the seeds the statistics were tuned on).
On seed 5 the topic surge at the US open is missed: 27 negatives are due in its hour where 9 are usual, but
the hour drew 21, below 3x, so it does not qualify; there the other four must be found. These seeds guard
against regressions; bench/alerts.py measures all seeds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.backtest import replay
from alerts.history import History
from alerts.surge import Thresholds
from bench.alerts import HISTORY_WEEKS, START, week_events
from newsgen.surges import Injected, Score, generate_weeks, score

T = Thresholds()
JUDGED = START + timedelta(weeks=HISTORY_WEEKS)
STEP = timedelta(minutes=10)
INJECTED = week_events(JUDGED)
OPEN_TOPIC = next(e for e in INJECTED if e.scope == "topic" and e.start.hour == 13)
EVERY_SURGE = {3, 9}  # seeds on which all five surges must be found


def backtest(seed: int, injected: list[Injected]) -> tuple[Score, list[Injected]]:
    g = generate_weeks(START, HISTORY_WEEKS + 1, seed=seed, busy_per_hour=300, injected=injected)
    history = History.of(g.stories())
    events = list(replay(history, JUDGED, JUDGED + timedelta(weeks=1), T, STEP))
    bursts = [b for b in injected if b.scope == "burst"
              and any(e.event == "fire" and b.start <= e.at <= b.end + T.window for e in events)]
    return score(events, injected, T.window, stories=history.stories, busy_per_hour=300,
                 min_negative=T.min_negative), bursts


@pytest.mark.parametrize("seed", [3, 5, 9])
def test_goals_on_a_generated_week(seed: int) -> None:
    s, bursts = backtest(seed, INJECTED)
    assert bursts == [], "a burst of volume with the usual mix alerted"
    assert len(s.false_alerts) <= 1, s.false_alerts
    found = {surge: delay for surge, delay in s.detected.items() if delay is not None}
    assert all(delay <= 2 * T.window for delay in found.values())
    missed = [f"{q.scope}/{q.key} ({s.realized[q]} negative, baseline {s.expected[q]:.1f})"
              for q in s.qualifying if q not in found]
    assert s.qualifying and not missed, f"qualifying surges missed: {missed}"
    must = set(s.detected) if seed in EVERY_SURGE else set(s.detected) - {OPEN_TOPIC}
    assert must <= set(found), f"missed {[f'{m.scope}/{m.key}' for m in must - set(found)]}"


def test_normal_weeks_make_at_most_one_false_alert() -> None:
    s, _ = backtest(2, [])
    assert len(s.false_alerts) <= 1, s.false_alerts
