"""The classify step: the model runs once per batch, even when the store step refuses it for a while
(step.Transform holds the result and refuses new batches meanwhile)."""

from __future__ import annotations

import pytest

from monitor.pipeline import Decoded
from monitor.steps.classify import ClassifyStep
from monitor.steps.step import Batch, MessageRejected
from tests.unit.steps.fakes import Sink, batch, pipeline, records


def decoded_batch(n: int, first: int = 0) -> Batch:
    rs = records(n, first=first)
    return Batch(rs, pipeline().decode(rs), 0.0)


def test_items_are_the_valid_articles_with_their_positions() -> None:
    sink = Sink()
    ClassifyStep(sink, pipeline().classify_batch).submit(decoded_batch(3))
    [out] = sink.got
    assert isinstance(out, Batch)
    assert [(i.kafka_partition, i.kafka_offset, i.prediction.sentiment) for i in out.decoded.items] == [
        (0, 0, "negative"), (0, 1, "negative"), (0, 2, "negative")]


def test_a_refused_batch_is_held_not_classified_again() -> None:
    runs: list[int] = []

    def counting(decoded: Decoded) -> None:
        runs.append(len(decoded.valid))

    sink = Sink(refuse=True)
    step = ClassifyStep(sink, counting)
    first = decoded_batch(2)
    step.submit(first)  # taken, held: the store step is busy
    with pytest.raises(MessageRejected):
        step.submit(decoded_batch(2, first=2))  # the poll step keeps this one
    step.poll()
    assert sink.got == [] and runs == [2]
    sink.refuse = False
    step.poll()
    assert sink.got == [first] and runs == [2]  # handed on, not run again
    step.submit(decoded_batch(1, first=2))
    assert runs == [2, 1]


def test_join_hands_on_what_is_held_then_joins_the_next_step() -> None:
    sink = Sink(refuse=True)
    step = ClassifyStep(sink, lambda decoded: None)
    step.submit(batch(records(1)))
    sink.refuse = False
    step.join(1.0)
    assert len(sink.got) == 1 and len(sink.joined) == 1


def test_join_gives_up_on_a_held_batch_at_the_deadline() -> None:
    sink = Sink(refuse=True)
    step = ClassifyStep(sink, lambda decoded: None)
    step.submit(batch(records(1)))
    step.join(0.05)
    assert sink.got == [] and sink.joined == [0.0]
    step.close()
    assert sink.closed
