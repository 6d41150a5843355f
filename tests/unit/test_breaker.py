"""InvalidRatioBreaker: trips on a broken topic, never on a few bad messages or a bad start."""

from __future__ import annotations

import pytest

from monitor.breaker import CircuitOpen, InvalidRatioBreaker


def test_below_min_messages_never_trips() -> None:
    b = InvalidRatioBreaker(0.5, window=1000, min_messages=100)
    b.record(valid=0, invalid=99)
    b.check()  # 99 of 99 invalid, but too few to judge
    b.record(valid=0, invalid=1)
    with pytest.raises(CircuitOpen, match=r"100 of the last 100 messages were invalid \(100% > .* 0.5\)"):
        b.check()


def test_ratio_at_the_limit_does_not_trip_above_does() -> None:
    b = InvalidRatioBreaker(0.5, window=1000, min_messages=100)
    b.record(valid=100, invalid=100)
    b.check()  # exactly half: not more than the limit
    b.record(valid=0, invalid=1)
    with pytest.raises(CircuitOpen):
        b.check()


def test_old_messages_leave_the_window() -> None:
    b = InvalidRatioBreaker(0.5, window=100, min_messages=10)
    b.record(valid=0, invalid=40)
    b.record(valid=100, invalid=0)  # the 40 bad ones slid out
    b.check()
    b.record(valid=0, invalid=50)
    b.check()  # 50 of the last 100
    b.record(valid=0, invalid=1)
    with pytest.raises(CircuitOpen, match="51 of the last 100"):
        b.check()


def test_ratio_one_disables() -> None:
    b = InvalidRatioBreaker(1.0, window=100, min_messages=1)
    b.record(valid=0, invalid=500)
    b.check()


def test_min_messages_above_window_is_capped() -> None:
    b = InvalidRatioBreaker(0.5, window=10, min_messages=1000)
    b.record(valid=0, invalid=10)
    with pytest.raises(CircuitOpen):
        b.check()
