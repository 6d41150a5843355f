"""One detection pass over a History at `now`: every key's window judged against its seasonal baseline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from alerts.history import History, Key
from alerts.surge import (
    DAY,
    HOUR,
    MARKET_KEY,
    WEEK,
    Baseline,
    Counts,
    Surge,
    Thresholds,
    baseline_from,
    hour_floor,
    judge,
    testable,
)


def baseline_hours(now: datetime, t: Thresholds) -> tuple[list[datetime], list[datetime], list[datetime]]:
    """(hour-of-week, hour-of-day, recent) sample hours for the window ending at `now`.

    The seasonal samples are the clock hour holding the window's midpoint and its neighbours, in past weeks
    and days; the recent samples are the whole hours before the window starts.
    """
    window_start = now - t.window
    h = hour_floor(now - t.window / 2)
    # The neighbouring hours too: a small topic's hour holds a dozen stories, too few for a share on its own.
    near = [k * HOUR for k in range(-t.neighbour_hours, t.neighbour_hours + 1)]
    seasonal = [h + k - w * WEEK for w in range(1, t.seasonal_weeks + 1) for k in near]
    daily = [h + k - d * DAY for d in range(1, t.daily_days + 1) for k in near]
    first = hour_floor(window_start)
    recent = [first - i * HOUR for i in range(1, t.recent_hours + 1)]
    return seasonal, daily, recent


def needed_ranges(now: datetime, t: Thresholds) -> list[tuple[datetime, datetime]]:
    """The [start, end) spans a detection run at `now` reads, merged; the live job loads only these."""
    seasonal, daily, recent = baseline_hours(now, t)
    window_start = now - t.window
    spans = [(h, h + HOUR) for h in seasonal + daily]
    # Recent hours and the window, from the start of the first day touched so same-day copies are dropped.
    first = min(recent) if recent else hour_floor(window_start)
    day_start = first.replace(hour=0)
    spans.append((day_start, now))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def key_baseline(history: History, key: Key, now: datetime, prior_share: float, t: Thresholds) -> Baseline:
    seasonal, daily, recent = baseline_hours(now, t)

    def samples(hours: list[datetime]) -> list[Counts]:
        return [history.hour_counts(h, key) for h in hours if history.has_hour(h)]

    return baseline_from(samples(seasonal), samples(daily), samples(recent), prior_share, t)


def detect(history: History, now: datetime, t: Thresholds, also: Iterable[Key] = ()) -> list[Surge]:
    """Judge every key seen in the window ending at `now`, plus `also` (open alerts, which must be judged
    to resolve even when their key went quiet). The market goes first: its share is the others' prior."""
    start = now - t.window
    windows = history.window_counts(start, now)
    market: Key = ("market", MARKET_KEY)
    keys = [market] + sorted(k for k in set(windows) | set(also) if k != market)
    tests = sum(1 for k in keys if testable(windows.get(k, Counts(0, 0)), t))
    market_baseline = key_baseline(history, market, now, t.default_prior_share, t)
    surges = []
    for key in keys:
        baseline = market_baseline if key == market else key_baseline(history, key, now, market_baseline.share, t)
        surges.append(judge(key[0], key[1], start, now, windows.get(key, Counts(0, 0)), baseline, tests, t))
    return surges
