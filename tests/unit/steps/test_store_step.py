"""The store step: one write in flight on its writer thread, handed on only once committed; the one place of
database retry (backoff, the batch kept, submit refusing meanwhile); no retry once the chain is joined."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from monitor.pipeline import Decoded
from monitor.steps.step import Batch, MessageRejected
from monitor.steps.store import StoreStep
from tests.unit.steps.fakes import Clock, Sink, batch, records


class Down(Exception):
    pass


class Writes:
    """The write function: ``fail`` transient errors first, then the number of items; ``gate`` holds writes."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, decoded: Decoded) -> int:
        self.calls += 1
        assert self.gate.wait(5)
        if self.fail:
            self.fail -= 1
            raise Down("connection refused")
        return 7


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def made(clock: Clock) -> Iterator[tuple[StoreStep, Sink, Writes]]:
    sink, writes = Sink(), Writes()
    step = StoreStep(sink, writes, lambda e: isinstance(e, Down), submit_wait_s=0.5, now=clock)
    yield step, sink, writes
    writes.gate.set()
    step.close()


def settle(step: StoreStep, sink: Sink, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(sink.got) < n and time.monotonic() < deadline:
        step.poll()
        time.sleep(0.005)


def test_a_written_batch_goes_on_with_its_count(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, _ = made
    b = batch(records(2))
    step.submit(b)
    settle(step, sink, 1)
    assert sink.got == [b] and b.stored == 7


def test_the_next_batch_waits_for_the_write_in_flight(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, _ = made
    first, second = batch(records(1)), batch(records(1, first=1))
    step.submit(first)
    step.submit(second)  # waits for the first write, hands it on, starts the second
    assert sink.got == [first]
    settle(step, sink, 2)
    assert sink.got == [first, second]


def test_a_slow_write_refuses_the_next_batch(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, writes = made
    writes.gate.clear()
    step.submit(batch(records(1)))
    with pytest.raises(MessageRejected):
        step.submit(batch(records(1, first=1)))
    writes.gate.set()
    settle(step, sink, 1)
    assert len(sink.got) == 1


def test_an_outage_is_retried_with_backoff_and_logged_once(
    made: tuple[StoreStep, Sink, Writes], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    step, sink, writes = made
    writes.fail = 3
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    b = batch(records(1))
    step.submit(b)
    for _ in range(3):
        with pytest.raises(MessageRejected):  # the poll step keeps the next batch and pauses consumption
            step.submit(batch(records(1, first=1)))
        clock.advance(60)  # past the backoff: the next poll retries
        step.poll()
    settle(step, sink, 1)
    assert sink.got == [b] and writes.calls == 4
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unavailable" in m for m in messages) == 1
    assert sum("database available again" in m for m in messages) == 1
    assert step.database.ok


def test_no_retry_before_the_backoff_is_over(made: tuple[StoreStep, Sink, Writes], clock: Clock) -> None:
    step, sink, writes = made
    writes.fail = 1
    step.submit(batch(records(1)))
    with pytest.raises(MessageRejected):
        step.submit(batch(records(1, first=1)))
    for _ in range(5):
        step.poll()
    assert writes.calls == 1 and sink.got == []
    clock.advance(0.5)
    settle(step, sink, 1)
    assert writes.calls == 2


def test_any_other_error_stops_the_stream(clock: Clock) -> None:
    def broken(decoded: Decoded) -> int:
        raise RuntimeError("schema mismatch")

    sink = Sink()
    step = StoreStep(sink, broken, lambda e: False, now=clock)
    step.submit(batch(records(1)))
    with pytest.raises(RuntimeError, match="schema mismatch"):
        settle(step, sink, 1)
    step.close()
    assert sink.got == []


def test_join_finishes_the_write_in_flight(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, _ = made
    step.submit(batch(records(1)))
    step.join(5)
    assert len(sink.got) == 1 and len(sink.joined) == 1


def test_join_in_an_outage_abandons_the_batch_at_once(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, writes = made
    writes.fail = 100
    step.submit(batch(records(1)))
    with pytest.raises(MessageRejected):
        step.submit(batch(records(1, first=1)))
    started = time.monotonic()
    step.join(10)
    assert time.monotonic() - started < 1 and sink.got == [] and writes.calls == 1


def test_commit_sees_only_confirmed_batches(made: tuple[StoreStep, Sink, Writes]) -> None:
    step, sink, writes = made
    writes.fail = 1
    step.submit(batch(records(1)))
    step.poll()
    time.sleep(0.05)
    step.poll()
    assert sink.got == []  # failed: nothing goes on
    assert all(isinstance(b, Batch) and b.stored is not None for b in sink.got)
