"""The whole chain on stand-ins (a fake consumer, the product's pipeline with a fake model and a transaction
that reaches no database): offsets follow storage, a database outage pauses consumption and loses nothing,
and the daemon's loop stops on a signal."""

from __future__ import annotations

import threading
import time

from monitor.daemon import Daemon
from monitor.pipeline import Pipeline
from monitor.steps.chain import Batching, Chain, build_chain
from monitor.steps.commit import StreamStats
from tests.unit.steps.fakes import FakeConsumer, classify, record, records


class Database:
    """A transaction function that keeps what the pipeline stored, and can be down."""

    def __init__(self) -> None:
        self.down = False
        self.rows: list[tuple[int, int]] = []  # (partition, offset) of stored articles and dead letters

    def transaction(self, fn: object) -> None:
        if self.down:
            raise ConnectionError("database down")
        session = self
        fn(session)  # type: ignore[operator]


def storing_pipeline(db: Database) -> Pipeline:
    class Stored(Pipeline):
        def write(self, decoded):  # type: ignore[no-untyped-def]
            if db.down:
                raise ConnectionError("database down")
            db.rows += [(i.kafka_partition, i.kafka_offset) for i in decoded.items]
            db.rows += [(d.kafka_partition, d.kafka_offset) for d in decoded.dead]
            return len(decoded.items)

    return Stored(classify=classify, store=db.transaction, max_message_bytes=10_000, dead_letter_max_bytes=100)


def chain_on(consumer: FakeConsumer, db: Database, stats: StreamStats) -> Chain:
    return build_chain(consumer, storing_pipeline(db), Batching(4, 0.0), stats,
                       is_transient=lambda e: isinstance(e, ConnectionError))


def drive(chain: Chain, until: object, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:  # type: ignore[operator]
        chain.poll()


def test_everything_stored_once_and_committed_after_storage() -> None:
    consumer, db, stats = FakeConsumer([records(10), [record(10, value=b"{")]]), Database(), StreamStats()
    chain = chain_on(consumer, db, stats)
    drive(chain, lambda: stats.consumed == 11)
    chain.join(5)
    chain.close()
    assert sorted(db.rows) == [(0, i) for i in range(11)]
    assert consumer.committed[-1] == {("news", 0): 11} and stats.dead_letters == 1


def test_a_database_outage_pauses_consumption_and_loses_nothing() -> None:
    consumer, db, stats = FakeConsumer([records(4, first=4 * i) for i in range(6)]), Database(), StreamStats()
    chain = chain_on(consumer, db, stats)
    db.down = True
    drive(chain, lambda: consumer.paused)
    assert consumer.paused and db.rows == [] and consumer.committed == []
    db.down = False
    drive(chain, lambda: stats.consumed == 24, seconds=10)  # the store step's backoff: 0.5 s, 1 s, ...
    chain.join(5)
    chain.close()
    assert not consumer.paused and sorted(db.rows) == [(0, i) for i in range(24)]
    assert consumer.committed[-1] == {("news", 0): 24}


def test_the_daemon_drives_the_chain_until_stopped() -> None:
    consumer, db = FakeConsumer([records(8)]), Database()
    closed: list[bool] = []

    class Source(FakeConsumer):
        def close(self) -> None:
            closed.append(True)

    source = Source(consumer.queue)
    daemon = Daemon(lambda: source,  # type: ignore[arg-type,return-value]
                    lambda s, stats, wait: build_chain(s, storing_pipeline(db), Batching(4, 0.0), stats,
                                                       is_transient=lambda e: False, wait=wait))
    thread = threading.Thread(target=daemon.run)
    thread.start()
    deadline = time.monotonic() + 5
    while daemon.stats.consumed < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    daemon.stop()
    thread.join(5)
    assert not thread.is_alive() and closed == [True] and len(db.rows) == 8
    assert source.committed[-1] == {("news", 0): 8}


