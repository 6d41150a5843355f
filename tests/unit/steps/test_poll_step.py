"""The poll step: batches by count and age, the one place of backpressure (hold the batch, pause, poll on,
resume), the broker's outages (backoff, one line each way), unreadable records (hand on what came before)."""

from __future__ import annotations

import logging

import pytest

from consumers.source import BrokerUnavailable, UnreadableRecords
from monitor.steps.poll import PollStep
from tests.unit.steps.fakes import Clock, FakeConsumer, Sink, records


def make(consumer: FakeConsumer, sink: Sink, clock: Clock, size: int = 3) -> tuple[PollStep, list[float]]:
    waits: list[float] = []
    return PollStep(consumer, sink, size, 0.2, broker=None, wait=waits.append, now=clock), waits


def test_a_full_batch_goes_on_at_once_the_rest_when_old_enough() -> None:
    consumer, sink, clock = FakeConsumer([records(3), records(2, first=3)]), Sink(), Clock()
    step, _ = make(consumer, sink, clock)
    step.poll()
    assert [[r.offset for r in b] for b in sink.got] == [[0, 1, 2]]  # type: ignore[attr-defined]
    step.poll()
    assert len(sink.got) == 1  # two records, not old enough
    clock.advance(0.2)
    step.poll()
    assert [[r.offset for r in b] for b in sink.got] == [[0, 1, 2], [3, 4]]  # type: ignore[attr-defined]
    assert consumer.polls[0] == (3, 200) and consumer.polls[1][0] == 3


def test_a_refused_batch_is_held_the_partitions_paused_then_resumed() -> None:
    consumer, sink, clock = FakeConsumer([records(3), records(3, first=3)]), Sink(refuse=True), Clock()
    step, _ = make(consumer, sink, clock)
    step.poll()
    assert consumer.paused and step.paused and sink.got == []
    step.poll()  # still refused: polls on (paused: a short timeout), offers nothing new
    assert consumer.pauses == 1 and consumer.polls[-1][1] == 100 and sink.got == []
    sink.refuse = False
    step.poll()
    assert not consumer.paused and [b[0].offset for b in sink.got] == [0, 3]  # type: ignore[index]


def test_a_broker_outage_backs_off_and_is_one_line_each_way(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    outage = [BrokerUnavailable("no route"), BrokerUnavailable("no route"), BrokerUnavailable("no route")]
    consumer, sink, clock = FakeConsumer([*outage, records(3)], live_connections=None), Sink(), Clock()
    step, waits = make(consumer, sink, clock)
    for _ in range(4):
        step.poll()
    assert waits == [0.5, 1.0, 2.0] and len(sink.got) == 1
    lines = [r.getMessage() for r in caplog.records]
    assert sum("kafka broker unreachable" in m for m in lines) == 1
    assert sum("kafka broker reachable again" in m for m in lines) == 1


def test_no_connection_for_five_seconds_is_an_outage() -> None:
    consumer, sink, clock = FakeConsumer(live_connections=0), Sink(), Clock()
    step, _ = make(consumer, sink, clock)
    for _ in range(7):
        clock.advance(1.0)
        step.poll()
    assert not step.broker.ok
    consumer.live_connections = 2
    clock.advance(1.0)
    step.poll()
    assert step.broker.ok


def test_unreadable_records_hand_on_what_was_read_before_them() -> None:
    consumer = FakeConsumer([records(2), UnreadableRecords("cannot read news-0 at offset 2")])
    sink, clock = Sink(), Clock()
    step, _ = make(consumer, sink, clock)
    step.poll()
    assert sink.got == []
    with pytest.raises(UnreadableRecords):
        step.poll()
    assert [r.offset for r in sink.got[0]] == [0, 1] and len(sink.joined) == 1  # type: ignore[attr-defined]


def test_join_abandons_what_is_only_batched(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    consumer, sink, clock = FakeConsumer([records(2)]), Sink(), Clock()
    step, _ = make(consumer, sink, clock)
    step.poll()
    step.join(3.0)
    assert sink.got == [] and sink.joined == [3.0]
    assert "abandoning 2 uncommitted messages" in caplog.text
    step.close()
    assert sink.closed
