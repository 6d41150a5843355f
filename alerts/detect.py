"""One detection pass over a History at `now`: every key's window judged against its seasonal baseline."""

from __future__ import annotations

import math
import statistics
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
    adjust,
    baseline_from,
    evidence,
    hour_floor,
    judge,
    scope_weights,
    testable,
)
from alerts.volume import RateTest, Volume


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


def volume_windows(now: datetime, t: Thresholds) -> list[tuple[str, list[tuple[datetime, datetime]]]]:
    """The same window in past weeks, then in past days: the usual volume's samples, in order of preference.
    Whole windows, not clock hours: volume jumps within an hour (the US open) and an hour's neighbours
    would put the open's peak at the average of the hours around it."""
    start = now - t.window
    return [
        ("week", [(start - w * WEEK, now - w * WEEK) for w in range(1, t.seasonal_weeks + 1)]),
        ("day", [(start - d * DAY, now - d * DAY) for d in range(1, t.daily_days + 1)]),
    ]


def needed_ranges(now: datetime, t: Thresholds) -> list[tuple[datetime, datetime]]:
    """The [start, end) spans a detection run at `now` reads, merged; the live job loads only these."""
    seasonal, daily, recent = baseline_hours(now, t)
    window_start = now - t.window
    spans = [(h, h + HOUR) for h in seasonal + daily]
    spans += [span for _, windows in volume_windows(now, t) for span in windows]
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

    def samples(hours: list[datetime] | set[datetime]) -> list[Counts]:
        return [history.hour_counts(h, key) for h in hours if history.has_hour(h)]

    broad = samples(set(seasonal) | set(daily) | set(recent))
    return baseline_from(samples(seasonal), samples(daily), samples(recent), prior_share, t, broad)


def market_volume(history: History, now: datetime, t: Thresholds) -> Volume | None:
    """The market's usual non-negative count for the window ending at `now` (None: too little history).
    A sample window counts when the history has any story in it. A past burst at this time of the week
    would raise the bar for a month: windows far above the median (Poisson-scaled) are dropped."""
    market: Key = ("market", MARKET_KEY)
    for how, spans in volume_windows(now, t):
        others = [c.total - c.negative for c in
                  (history.window_counts(s, e, market).get(market, Counts(0, 0)) for s, e in spans) if c.total]
        if len(others) < t.min_volume_windows:
            continue
        med = statistics.median(others)
        kept = [y for y in others if y <= med + 4 * math.sqrt(med) + 3]
        return Volume(sum(kept) / len(kept), float(sum(kept)), len(kept), how)
    return None


def key_volume(market: Volume, market_broad: Counts, baseline: Baseline) -> Volume:
    """A key's usual non-negative count for the window: the market's, times the key's part of the market's
    non-negative stories over every sample hour. Four past windows of one topic at the US open hold some
    seventy stories, too few to know its usual volume within 12 %; the market's hold eight hundred, and the
    key's part of the market, over two days of sample hours, as many again."""
    key_other = baseline.broad.total - baseline.broad.negative
    market_other = market_broad.total - market_broad.negative
    part = (key_other + 0.5) / (market_other + 1.0)
    precision = 1.0 / (1.0 / (market.observed + 0.5) + 1.0 / (key_other + 0.5))
    return Volume(market.expected * part, precision, market.windows, market.how)


def detect(history: History, now: datetime, t: Thresholds, also: Iterable[Key] = ()) -> list[Surge]:
    """Judge every key seen in the window ending at `now`, plus `also` (open alerts, which must be judged
    to resolve even when their key went quiet). The market goes first: its share is the others' prior."""
    start = now - t.window
    windows = history.window_counts(start, now)
    market: Key = ("market", MARKET_KEY)
    keys = [market] + sorted(k for k in set(windows) | set(also) if k != market)
    usual = market_volume(history, now, t)
    market_baseline = key_baseline(history, market, now, t.default_prior_share, t)
    judged = []
    market_rate: RateTest | None = None
    for key in keys:
        baseline = market_baseline if key == market else key_baseline(history, key, now, market_baseline.share, t)
        window = windows.get(key, Counts(0, 0))
        volume = None if usual is None else key_volume(usual, market_baseline.broad, baseline)
        p = evidence(window, baseline, volume, t, market_rate)
        if key == market:
            market_rate = p[2]
        judged.append((key, window, baseline, volume, p))
    # Only keys that could fire count toward the correction (selecting on volume, not on the share).
    tested = [i for i, (_, window, *_rest) in enumerate(judged) if testable(window, t)]
    weights = scope_weights([judged[i][0][0] for i in tested]) if t.weigh_scopes else None
    adjusted = dict(zip(tested, adjust([judged[i][4][0] for i in tested], t.correction, weights), strict=True))
    m = max(1, len(tested))
    return [
        judge(key[0], key[1], start, now, window, baseline, p, adjusted.get(i, min(1.0, p[0] * m)), t, volume)
        for i, (key, window, baseline, volume, p) in enumerate(judged)
    ]
