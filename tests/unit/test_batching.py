"""Batcher with a fake clock: full by size, or due by age; nothing sleeps."""

from __future__ import annotations

import pytest

from consumers.batching import Batcher


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_empty_is_never_ready(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(3, 1.0, now=clock)
    assert len(b) == 0 and not b.ready()
    clock.advance(100)
    assert not b.ready()
    assert b.remaining_wait() == 1.0
    assert b.take() == []


def test_ready_when_size_reached(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(3, 10.0, now=clock)
    b.add([1, 2])
    assert not b.ready() and len(b) == 2
    b.add([3])
    assert b.ready()
    assert b.remaining_wait() == 0.0
    assert b.take() == [1, 2, 3]
    assert len(b) == 0 and not b.ready()


def test_ready_when_oldest_item_waited_long_enough(clock: FakeClock) -> None:
    b: Batcher[str] = Batcher(100, 2.0, now=clock)
    b.add(["a"])
    clock.advance(1.5)
    b.add(["b"])  # a later item does not restart the clock
    assert not b.ready()
    assert b.remaining_wait() == pytest.approx(0.5)
    clock.advance(0.5)
    assert b.ready()
    assert b.remaining_wait() == 0.0
    assert b.take() == ["a", "b"]


def test_clock_restarts_after_take(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(100, 2.0, now=clock)
    b.add([1])
    clock.advance(5)
    assert b.take() == [1]
    clock.advance(5)
    b.add([2])
    assert not b.ready()
    assert b.remaining_wait() == pytest.approx(2.0)


def test_adding_nothing_does_not_start_the_clock(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(10, 1.0, now=clock)
    b.add([])
    clock.advance(5)
    b.add([1])
    assert not b.ready()
    assert b.age() == 0.0


def test_take_returns_at_most_max_size_and_leftovers_stay_due(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(4, 3.0, now=clock)
    b.add(range(10))
    assert b.take() == [0, 1, 2, 3]
    assert b.ready()  # still 6 >= 4
    assert b.take() == [4, 5, 6, 7]
    assert len(b) == 2 and not b.ready()
    clock.advance(3.0)  # leftovers kept their original arrival time
    assert b.ready()
    assert b.take() == [8, 9]
    assert not b.ready() and b.age() == 0.0


def test_zero_wait_means_ready_as_soon_as_anything_arrives(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(100, 0.0, now=clock)
    assert not b.ready()
    b.add([1])
    assert b.ready()


def test_clock_going_backwards_is_harmless(clock: FakeClock) -> None:
    b: Batcher[int] = Batcher(10, 1.0, now=clock)
    b.add([1])
    clock.advance(-5)
    assert b.age() == 0.0 and not b.ready()
    assert b.remaining_wait() == 1.0


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (-1, 1.0), (1, -0.1)])
def test_rejects_bad_limits(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        Batcher(size, wait)


def test_default_clock_is_monotonic() -> None:
    b: Batcher[int] = Batcher(10, 60.0)
    b.add([1])
    assert 0.0 <= b.age() < 5.0
    assert not b.ready()


# --- by bytes (issue 13, item 2): messages near the size limit must not make a batch of hundreds of MB


def test_full_by_bytes_before_full_by_count(clock: FakeClock) -> None:
    b: Batcher[bytes] = Batcher(256, 60.0, now=clock, max_bytes=1000, size_of=len)
    b.add([b"x" * 300] * 3)
    assert not b.ready() and b.remaining_wait() == 60.0
    b.add([b"x" * 300, b"y" * 300])
    assert b.ready() and b.remaining_wait() == 0.0  # 1500 bytes held, no waiting
    first = b.take()
    assert len(first) == 3 and b.held_bytes == 600  # 900 <= 1000 < 1200
    assert not b.ready()  # the leftovers are under the limit
    clock.advance(60)
    assert b.take() == [b"x" * 300, b"y" * 300] and b.held_bytes == 0 and len(b) == 0


def test_an_item_bigger_than_max_bytes_is_a_batch_alone(clock: FakeClock) -> None:
    b: Batcher[bytes] = Batcher(256, 60.0, now=clock, max_bytes=100, size_of=len)
    b.add([b"z" * 5000, b"a", b"b"])
    assert b.ready()
    assert b.take() == [b"z" * 5000]
    assert b.held_bytes == 2 and not b.ready()


def test_count_still_applies_with_max_bytes(clock: FakeClock) -> None:
    b: Batcher[bytes] = Batcher(2, 60.0, now=clock, max_bytes=10**9, size_of=len)
    b.add([b"1", b"2", b"3"])
    assert b.ready() and b.take() == [b"1", b"2"] and b.held_bytes == 1


def test_max_bytes_needs_size_of() -> None:
    with pytest.raises(ValueError):
        Batcher(2, 1.0, max_bytes=10)
    with pytest.raises(ValueError):
        Batcher(2, 1.0, max_bytes=0, size_of=len)
