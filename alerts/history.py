"""Stored stories, deduplicated and counted per key and hour: what detection reads.

The live job loads the few ranges one detection run needs (the window, the recent hours, the same hour in
past days and weeks) and the backtest loads the whole replay span once; both count through this module, so
they decide alike.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alerts.surge import MARKET_KEY, Counts, hour_floor, normalise_headline
from storage.alerts_repo import Story

Key = tuple[str, str]  # (scope, key)


def keys_of(story: Story) -> Iterable[Key]:
    """Every (scope, key) a story counts for: the market, its topic, each of its tickers once."""
    yield ("market", MARKET_KEY)
    yield ("topic", story.topic)
    for ticker in dict.fromkeys(story.tickers):
        yield ("ticker", ticker)


@dataclass
class History:
    """Distinct stories in time order. A story counts once per UTC day: copies of the same normalised
    headline later that day (other outlets, re-wires) are dropped, whatever their sentiment."""

    stories: list[Story] = field(default_factory=list)
    _times: list[datetime] = field(default_factory=list)
    _hours: dict[datetime, dict[Key, list[int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, stories: Iterable[Story]) -> History:
        seen: set[tuple[str, object]] = set()
        distinct: list[Story] = []
        for story in sorted(stories, key=lambda s: s.published_at):
            mark = (normalise_headline(story.title), story.published_at.date())
            if mark in seen:
                continue
            seen.add(mark)
            distinct.append(story)
        hours: dict[datetime, dict[Key, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for story in distinct:
            bucket = hours[hour_floor(story.published_at)]
            for key in keys_of(story):
                counts = bucket[key]
                counts[0] += 1
                counts[1] += story.negative
        return cls(distinct, [s.published_at for s in distinct], dict(hours))

    def between(self, start: datetime, end: datetime) -> Sequence[Story]:
        """Distinct stories published in [start, end)."""
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_left(self._times, end)
        return self.stories[lo:hi]

    def window_counts(self, start: datetime, end: datetime, only: Key | None = None) -> dict[Key, Counts]:
        """Counts per key of the stories published in [start, end) (of the key `only`, if given)."""
        counts: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
        for story in self.between(start, end):
            for key in keys_of(story):
                if only is not None and key != only:
                    continue
                c = counts[key]
                c[0] += 1
                c[1] += story.negative
        return {key: Counts(total, negative) for key, (total, negative) in counts.items()}

    def hour_counts(self, hour: datetime, key: Key) -> Counts:
        """Counts of the clock hour starting at `hour`; an hour with no stories is Counts(0, 0)."""
        found = self._hours.get(hour, {}).get(key)
        return Counts(found[0], found[1]) if found else Counts(0, 0)

    def has_hour(self, hour: datetime) -> bool:
        return hour in self._hours
