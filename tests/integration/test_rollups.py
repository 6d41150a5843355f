"""The hourly rollups equal ``article_sentiment`` grouped by hour, whatever happens (property test).

Hypothesis drives random sequences of batches (redelivered keys, several model versions, one article
classified twice in one batch) and changes of the preferred model version;
after every step the rollup-backed views must equal a from-scratch GROUP BY over ``article_sentiment``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from storage.db import make_engine, upgrade
from storage.history import prefer_version
from storage.repository import StoredItem, store_batch
from tests.integration.test_storage import make_item

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
KEYS = [f"k{i}" for i in range(8)]

_BUCKET = "date_trunc('hour', s.published_at AT TIME ZONE 'UTC')"
_COUNTS = """count(*), sum(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END),
    sum(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END)"""


def _expected(session: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    bucket = _BUCKET
    topics = session.execute(text(f"SELECT {bucket}, s.topic, {_COUNTS} FROM article_sentiment AS s GROUP BY 1, 2"))
    tickers = session.execute(
        text(
            f"""SELECT {bucket}, t.ticker, {_COUNTS} FROM article_sentiment AS s
                JOIN article_tickers AS t ON t.article_id = s.article_id GROUP BY 1, 2"""
        )
    )
    return sorted(map(tuple, topics)), sorted(map(tuple, tickers))


def _actual(session: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    topics = session.execute(text("SELECT bucket, topic, total, negative, neutral, positive FROM sentiment_hourly"))
    tickers = session.execute(
        text("SELECT bucket, ticker, total, negative, neutral, positive FROM ticker_sentiment_hourly")
    )
    return sorted(map(tuple, topics)), sorted(map(tuple, tickers))


item_strategy = st.builds(
    lambda key, minutes, topic, sentiment, version, tickers: make_item(
        key,
        published_at=T0 + timedelta(minutes=minutes),
        topic=topic,
        sentiment=sentiment,
        model_version=version,
        tickers=tuple(tickers),
    ),
    key=st.sampled_from(KEYS),
    minutes=st.integers(0, 180),
    topic=st.sampled_from(["Earnings", "Energy", "Macro"]),
    sentiment=st.sampled_from(["negative", "neutral", "positive"]),
    version=st.sampled_from(["v1", "v2", "v3"]),
    tickers=st.lists(st.sampled_from(["AAA", "BBB", "CCC"]), max_size=3),
)
step_strategy = st.one_of(
    st.lists(item_strategy, min_size=1, max_size=6).map(lambda items: ("batch", items)),
    st.sampled_from([None, "v1", "v2", "v3"]).map(lambda version: ("prefer", version)),
)


@pytest.fixture(scope="module")
def rollup_engine(pg_database_factory: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    yield engine
    engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step_strategy, min_size=1, max_size=8))
def test_rollups_equal_a_full_group_by(rollup_engine: Engine, steps: list[tuple[str, object]]) -> None:
    with rollup_engine.connect() as conn:
        outer = conn.begin()  # every example starts from an empty database: roll everything back
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            for number, (kind, arg) in enumerate(steps):
                if kind == "batch":
                    items: list[StoredItem] = arg  # type: ignore[assignment]
                    store_batch(session, items, classified_at=T0 + timedelta(days=1, seconds=number))
                else:
                    versions = {row[0] for row in session.execute(text("SELECT model_version FROM classifications"))}
                    if arg is None or arg in versions:
                        prefer_version(session, arg)  # type: ignore[arg-type]
                session.flush()
                assert _actual(session) == _expected(session), f"after step {number}: {kind} {arg}"
        finally:
            session.close()
            outer.rollback()


def test_a_redelivered_batch_moves_no_counts(rollup_engine: Engine) -> None:
    items = [make_item("r1", sentiment="negative"), make_item("r2", tickers=("AAA", "BBB"))]
    with rollup_engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            store_batch(session, items)
            first = _actual(session)
            store_batch(session, items)
            assert _actual(session) == first
            assert [row[2:] for row in first[0]] == [(2, 1, 1, 0)]
        finally:
            session.close()
            outer.rollback()
