"""The commit step: commits what store confirmed, counts it; the one place of commit retry (offsets an outage
left uncommitted go with the next batch, or alone once the broker is back, or at join)."""

from __future__ import annotations

import pytest

from consumers.source import BrokerUnavailable, CommitFailed
from monitor.steps.backoff import Availability, broker_health
from monitor.steps.commit import CommitStep, StreamStats
from tests.unit.steps.fakes import Clock, FakeConsumer, batch, record, records


def make(consumer: FakeConsumer, clock: Clock | None = None) -> tuple[CommitStep, StreamStats, Availability]:
    stats, broker = StreamStats(), broker_health()
    return CommitStep(consumer.commit, broker, stats, now=clock or Clock()), stats, broker


def test_commits_the_next_offset_per_partition_and_counts() -> None:
    consumer = FakeConsumer()
    step, stats, _ = make(consumer)
    step.submit(batch([*records(3), record(5, partition=1)], stored=4))
    assert consumer.committed == [{("news", 0): 3, ("news", 1): 6}]
    assert (stats.batches, stats.consumed, stats.stored) == (1, 4, 4) and stats.last_batch_at is not None


def test_an_unconfirmed_batch_is_refused() -> None:
    step, _, _ = make(FakeConsumer())
    with pytest.raises(AssertionError, match="confirmed"):
        step.submit(batch(records(1)))


def test_offsets_a_broker_outage_left_go_with_the_next_batch() -> None:
    consumer = FakeConsumer(commit_error=BrokerUnavailable("coordinator gone"))
    step, stats, broker = make(consumer)
    step.submit(batch(records(3), stored=3))
    assert step.unacknowledged == {("news", 0): 3} and not broker.ok
    assert stats.stored == 3  # stored is stored, committed or not
    consumer.commit_error = None
    step.submit(batch([record(0, partition=1)], stored=1))
    assert consumer.committed == [{("news", 0): 3, ("news", 1): 1}] and step.unacknowledged == {}


def test_a_quiet_partition_is_committed_once_the_broker_is_back() -> None:
    consumer, clock = FakeConsumer(commit_error=BrokerUnavailable("gone")), Clock()
    step, _, broker = make(consumer, clock)
    step.submit(batch(records(2), stored=2))
    consumer.commit_error = None
    step.poll()
    assert consumer.committed == []  # the broker is still called lost
    broker.reachable()
    step.poll()
    assert consumer.committed == []  # not before the retry interval
    clock.advance(2.0)
    step.poll()
    assert consumer.committed == [{("news", 0): 2}]


def test_join_tries_once_more() -> None:
    consumer = FakeConsumer(commit_error=BrokerUnavailable("gone"))
    step, _, broker = make(consumer)
    step.submit(batch(records(2), stored=2))
    consumer.commit_error = None
    broker.reachable()
    step.join(1.0)
    assert consumer.committed == [{("news", 0): 2}]


def test_a_rebalance_drops_the_offsets() -> None:
    consumer = FakeConsumer(commit_error=CommitFailed("partitions revoked"))
    step, stats, broker = make(consumer)
    step.submit(batch(records(2), stored=2))
    assert step.unacknowledged == {} and broker.ok and stats.batches == 1
