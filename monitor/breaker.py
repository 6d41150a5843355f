"""The invalid-message circuit breaker of `monitor run`.

One bad message is the producer's problem and goes to the dead letters. A topic where most messages are bad
is a broken producer, a schema change or the wrong topic: dead-lettering it all would bury the stream in
`dead_letters` and move the offsets past every message, so the daemon stops loudly instead and lets a person
decide (fix the producer, or fix the decoder and replay the dead letters).
"""

from __future__ import annotations

from collections import deque


class CircuitOpen(Exception):
    """Too many invalid messages recently; the message says how many, of how many, against which limit."""


class InvalidRatioBreaker:
    """Trips when more than `max_ratio` of the last `window` messages were invalid, once at least
    `min_messages` have been seen (so two bad messages out of the first three do not stop a daemon).
    A `max_ratio` of 1 never trips."""

    def __init__(self, max_ratio: float, window: int, min_messages: int) -> None:
        self.max_ratio = max_ratio
        self.min_messages = min(min_messages, window)
        self._recent: deque[bool] = deque(maxlen=window)  # True = invalid
        self._invalid = 0

    def record(self, valid: int, invalid: int) -> None:
        for flag in [False] * valid + [True] * invalid:
            if len(self._recent) == self._recent.maxlen and self._recent[0]:
                self._invalid -= 1
            self._recent.append(flag)
            self._invalid += flag

    def check(self) -> None:
        """Raise CircuitOpen when the recent ratio is over the limit."""
        seen = len(self._recent)
        if seen < self.min_messages or self._invalid <= self.max_ratio * seen:
            return
        raise CircuitOpen(
            f"circuit breaker: {self._invalid} of the last {seen} messages were invalid "
            f"({self._invalid / seen:.0%} > MONITOR_MAX_INVALID_RATIO {self.max_ratio:g})"
        )
