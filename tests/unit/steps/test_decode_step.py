"""The decode step: records -> a batch of articles and dead letters; the circuit breaker stops a broken topic
before anything of the tripping batch goes on."""

from __future__ import annotations

import pytest

from monitor.breaker import CircuitOpen, InvalidRatioBreaker
from monitor.steps.decode import DecodeStep
from monitor.steps.step import Batch
from tests.unit.steps.fakes import Sink, pipeline, record, records


def test_valid_and_invalid_records_become_one_batch() -> None:
    sink = Sink()
    rs = [*records(3), record(3, value=b"not json")]
    DecodeStep(sink, pipeline().decode).submit(rs)
    [out] = sink.got
    assert isinstance(out, Batch) and out.records == rs and out.stored is None
    assert len(out.decoded.valid) == 3 and [d.kafka_offset for d in out.decoded.dead] == [3]


def test_a_tripping_batch_goes_nowhere() -> None:
    sink = Sink()
    step = DecodeStep(sink, pipeline().decode, InvalidRatioBreaker(0.5, window=10, min_messages=4))
    step.submit(records(4))
    with pytest.raises(CircuitOpen):
        step.submit([record(i, value=b"{") for i in range(4, 10)])
    assert len(sink.got) == 1  # only the good batch before it


def test_without_a_breaker_a_bad_topic_is_all_dead_letters() -> None:
    sink = Sink()
    DecodeStep(sink, pipeline().decode).submit([record(i, value=b"\xff") for i in range(5)])
    [out] = sink.got
    assert isinstance(out, Batch) and len(out.decoded.dead) == 5
