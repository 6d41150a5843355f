"""storage/ against a real PostgreSQL database (the system one, or the embedded one: tests/db_fixtures.py).

Fixtures (pg_session, pg_engine, pg_empty_url) come from tests/db_fixtures.py via conftest.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, inspect, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from consumers.article import Article
from model.prediction import Prediction
from storage.db import (
    DatabaseUnavailable,
    SchemaMissing,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    is_transient,
    make_engine,
    normalize_url,
    upgrade,
)
from storage.repository import (
    DeadLetter,
    StoredItem,
    count_articles,
    dead_letter_counts,
    most_negative,
    sentiment_counts_by_topic,
    store_batch,
    store_dead_letters,
)
from storage.schema import articles, classifications, dead_letters, metadata

pytestmark = pytest.mark.integration


def count_classifications(session: Session) -> int:
    return session.scalar(text("SELECT count(*) FROM classifications")) or 0


def tickers_of(session: Session, keys: list[str]) -> dict[str, list[str]]:
    """Stored tickers per article key, from article_tickers (sorted)."""
    found: dict[str, list[str]] = {key: [] for key in keys}
    rows = session.execute(text("SELECT a.key, t.ticker FROM articles a JOIN article_tickers t ON t.article_id = a.id "
                                "WHERE a.key = ANY(:keys) ORDER BY a.key, t.ticker"), {"keys": keys})
    for key, ticker in rows:
        found[key].append(ticker)
    return found

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def make_item(
    key: str,
    *,
    title: str | None = None,
    published_at: datetime = T0,
    topic: str = "earnings",
    sentiment: str = "neutral",
    score: float = 0.7,
    model_version: str = "v1",
    tickers: tuple[str, ...] = ("AAPL",),
    offset: int | None = None,
) -> StoredItem:
    others = (1.0 - score) / 2
    probs = {
        label: (score if label == sentiment else others) for label in ("negative", "neutral", "positive")
    }
    article = Article(
        key=key,
        title=title if title is not None else f"title {key}",
        published_at=published_at,
        id=key,
        url=f"https://news.example/{key}",
        body="body",
        source="wire",
        lang="en",
        tickers=tickers,
        extra={"desk": "fx"},
    )
    prediction = Prediction(
        topic=topic,
        topic_score=0.9,
        sentiment=sentiment,
        sentiment_score=score,
        model_version=model_version,
        sentiment_probs=probs,
        highlights=("profit", "warning"),
    )
    return StoredItem(article, prediction, "news", 0 if offset is not None else None, offset)


def hour_text(bucket: datetime) -> str:
    """sentiment_hourly.bucket (a UTC timestamp without zone) as 'YYYY-MM-DD HH:00:00'."""
    return bucket.strftime("%Y-%m-%d %H:00:00")


# --- idempotency ---


def test_storing_a_batch_twice_adds_nothing(pg_session: Session) -> None:
    batch = [make_item(f"k{i}", offset=i, tickers=("AAPL", "MSFT", "AAPL")) for i in range(10)]

    assert store_batch(pg_session, batch) == 10
    pg_session.commit()
    assert store_batch(pg_session, batch) == 0
    pg_session.commit()

    assert count_articles(pg_session) == 10
    assert count_classifications(pg_session) == 10
    assert pg_session.scalar(text("SELECT count(DISTINCT key) FROM articles")) == 10
    assert tickers_of(pg_session, ["k3"]) == {"k3": ["AAPL", "MSFT"]}
    row = pg_session.execute(select(articles).where(articles.c.key == "k3")).one()
    assert (row.kafka_topic, row.kafka_partition, row.kafka_offset) == ("news", 0, 3)
    assert row.tickers == ["AAPL", "MSFT"]
    assert row.extra == {"desk": "fx"}
    assert row.external_id == "k3"


def test_same_key_twice_in_one_batch_is_stored_once(pg_session: Session) -> None:
    batch = [make_item("dup", title="first copy"), make_item("other"), make_item("dup", title="second copy")]

    assert store_batch(pg_session, batch) == 2

    assert count_articles(pg_session) == 2
    assert count_classifications(pg_session) == 2
    assert pg_session.scalar(select(articles.c.title).where(articles.c.key == "dup")) == "first copy"


def test_empty_batches_are_fine(pg_session: Session) -> None:
    assert store_batch(pg_session, []) == 0
    assert store_dead_letters(pg_session, []) == 0


# --- point-in-time classifications and the views ---


def current(session: Session, key: str) -> tuple[str, str, float]:
    row = session.execute(
        text(
            "SELECT s.model_version, s.sentiment, s.p_negative FROM article_sentiment AS s "
            "JOIN articles AS a ON a.id = s.article_id WHERE a.key = :key"
        ),
        {"key": key},
    ).one()
    return row[0], row[1], row[2]


def test_new_model_version_adds_rows_and_the_view_shows_the_newest(pg_session: Session) -> None:
    keys = ["a", "b", "c"]
    v1 = [make_item(k, sentiment="negative", score=0.9, model_version="v1") for k in keys]
    v2 = [make_item(k, sentiment="positive", score=0.8, model_version="v2") for k in keys]

    assert store_batch(pg_session, v1, classified_at=T0) == 3
    assert store_batch(pg_session, v2, classified_at=T0 + timedelta(hours=1)) == 0

    assert count_articles(pg_session) == 3
    assert count_classifications(pg_session) == 6  # point in time: v1 rows are still there
    assert current(pg_session, "a")[:2] == ("v2", "positive")
    view_rows = pg_session.execute(text("SELECT count(*) FROM article_sentiment")).scalar_one()
    assert view_rows == 3  # one row per article, not per classification

    # Re-storing v1 later (a redelivery to an old consumer) neither overwrites nor becomes current.
    store_batch(pg_session, v1, classified_at=T0 + timedelta(hours=2))
    assert count_classifications(pg_session) == 6
    assert current(pg_session, "a")[:2] == ("v2", "positive")

    # Same timestamp: the later insert (greater id) wins.
    v3 = [make_item("a", sentiment="neutral", model_version="v3")]
    store_batch(pg_session, v3, classified_at=T0 + timedelta(hours=1))
    assert current(pg_session, "a")[:2] == ("v3", "neutral")
    old = pg_session.scalars(
        select(classifications.c.sentiment)
        .join(articles, articles.c.id == classifications.c.article_id)
        .where(articles.c.key == "a", classifications.c.model_version == "v1")
    ).one()
    assert old == "negative"


def test_sentiment_hourly_matches_a_hand_computation(pg_session: Session) -> None:
    plus2 = timezone(timedelta(hours=2))
    batch = [
        # 09:xx UTC, earnings: 2 negative, 1 positive. One of them written with a +02:00 offset.
        make_item("e1", published_at=datetime(2024, 3, 1, 9, 5, tzinfo=UTC), sentiment="negative"),
        make_item("e2", published_at=datetime(2024, 3, 1, 11, 59, tzinfo=plus2), sentiment="negative"),
        make_item("e3", published_at=datetime(2024, 3, 1, 9, 30, tzinfo=UTC), sentiment="positive"),
        # 09:xx UTC, m&a: 1 neutral
        make_item("m1", published_at=datetime(2024, 3, 1, 9, 0, tzinfo=UTC), topic="m&a"),
        # 10:xx UTC, earnings: 1 neutral, 1 negative (10:00 exactly starts the next bucket)
        make_item("e4", published_at=datetime(2024, 3, 1, 10, 0, tzinfo=UTC), sentiment="neutral"),
        make_item("e5", published_at=datetime(2024, 3, 1, 12, 15, tzinfo=plus2), sentiment="negative"),
        # An article with no classification is not in the views at all.
    ]
    store_batch(pg_session, batch, classified_at=T0)
    # e5 is reclassified: only its current (positive) result counts.
    store_batch(
        pg_session,
        [make_item("e5", sentiment="positive", model_version="v2")],
        classified_at=T0 + timedelta(minutes=1),
    )

    rows = pg_session.execute(
        text(
            "SELECT bucket, topic, total, negative, neutral, positive, negative_share "
            "FROM sentiment_hourly ORDER BY bucket, topic"
        )
    ).all()
    got = {(hour_text(r[0]), r[1]): (r[2], r[3], r[4], r[5], pytest.approx(r[6])) for r in rows}
    assert got == {
        ("2024-03-01 09:00:00", "earnings"): (3, 2, 0, 1, 2 / 3),
        ("2024-03-01 09:00:00", "m&a"): (1, 0, 1, 0, 0.0),
        ("2024-03-01 10:00:00", "earnings"): (2, 0, 1, 1, 0.0),
    }

    assert sentiment_counts_by_topic(pg_session) == [("earnings", 5, 2, 1, 2), ("m&a", 1, 0, 1, 0)]


def test_most_negative(pg_session: Session) -> None:
    batch = [
        make_item("mild", sentiment="negative", score=0.6),
        make_item("severe", sentiment="negative", score=0.95),
        make_item("happy", sentiment="positive", score=0.99),
    ]
    store_batch(pg_session, batch)

    got = most_negative(pg_session, 5)
    assert [(title, source) for title, source, _ in got] == [("title severe", "wire"), ("title mild", "wire")]
    assert got[0][2] == pytest.approx(0.95)
    assert most_negative(pg_session, 1) == got[:1]


def test_published_at_round_trips_as_the_same_instant(pg_session: Session) -> None:
    instant = datetime(2024, 3, 1, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    store_batch(pg_session, [make_item("tz", published_at=instant)])

    stored = pg_session.scalar(select(articles.c.published_at).where(articles.c.key == "tz"))
    assert stored is not None and stored.utcoffset() is not None
    assert stored == instant


def test_naive_datetimes_are_refused(pg_session: Session) -> None:
    with pytest.raises((StatementError, ValueError), match="naive datetime"):
        store_batch(pg_session, [make_item("naive", published_at=datetime(2024, 3, 1, 9, 0))])


def test_deleting_an_article_cascades(pg_session: Session) -> None:
    store_batch(pg_session, [make_item("gone", tickers=("X", "Y")), make_item("kept")])

    pg_session.execute(delete(articles).where(articles.c.key == "gone"))

    assert count_classifications(pg_session) == 1
    assert tickers_of(pg_session, ["gone", "kept"]) == {"gone": [], "kept": ["AAPL"]}
    ticker_rows = pg_session.execute(text("SELECT count(*) FROM article_tickers")).scalar_one()
    assert ticker_rows == 1


# --- dead letters ---


def test_dead_letters_are_stored_once_per_kafka_position(pg_session: Session) -> None:
    raw = b'{"title": "\x00broken'
    letters = [
        DeadLetter(
            raw=raw,
            error="invalid JSON near \x00",
            raw_size=10_000,
            kafka_topic="news",
            kafka_partition=0,
            kafka_offset=7,
        ),
        DeadLetter(
            raw=b"x", error="missing title", raw_size=1, kafka_topic="news", kafka_partition=1, kafka_offset=7
        ),
        DeadLetter(raw=b"y", error="from a file", raw_size=1),  # monitor ingest: no position
    ]

    assert store_dead_letters(pg_session, letters) == 3
    # Redelivery of the Kafka ones is ignored; the position-less one is a new event each time.
    assert store_dead_letters(pg_session, letters) == 1
    assert sum(dead_letter_counts(pg_session)) == 4

    stored = pg_session.execute(select(dead_letters).where(dead_letters.c.kafka_offset == 7)).all()
    first = next(row for row in stored if row.kafka_partition == 0)
    assert first.raw == raw  # bytes verbatim, NUL included
    assert first.raw_size == 10_000
    assert first.error == "invalid JSON near \\x00"  # PostgreSQL text cannot hold NUL
    assert first.created_at.utcoffset() is not None


# --- hostile text ---


def test_injection_strings_are_stored_verbatim(pg_session: Session) -> None:
    hostile = "'); DROP TABLE articles; --"
    script = "<script>alert('x')</script>"
    quotes = "Robert\"; DELETE FROM classifications WHERE '1'='1"
    article = Article(
        key=hostile,
        title=script,
        published_at=T0,
        url="https://x.example/?q=' OR 1=1 --",
        body=f"{quotes}\n\\ back\\slash % _ ünïcødé 📉",
        source=hostile,
        tickers=(hostile, "$(rm -rf /)"),
        extra={"html": script, "nested": {"sql": hostile}},
    )
    prediction = Prediction("earnings", 0.5, "negative", 0.9, "v1", highlights=(hostile, script))

    assert store_batch(pg_session, [StoredItem(article, prediction)]) == 1

    row = pg_session.execute(select(articles)).one()
    assert (row.key, row.title, row.source, row.url, row.body) == (
        article.key,
        article.title,
        article.source,
        article.url,
        article.body,
    )
    assert row.tickers == [hostile, "$(rm -rf /)"]
    assert row.extra == {"html": script, "nested": {"sql": hostile}}
    assert pg_session.scalars(select(classifications.c.highlights)).one() == [hostile, script]
    assert tickers_of(pg_session, [hostile]) == {hostile: sorted([hostile, "$(rm -rf /)"])}
    assert count_articles(pg_session) == 1  # the table is, of course, still there


def test_unknown_fields_beyond_64_bit_integers_are_kept(pg_session: Session) -> None:
    # JSON allows any integer and the decoder keeps unknown fields; orjson (the PostgreSQL fast path's
    # encoder) stops at 64 bits, so such a batch must take the standard-library route, not fail.
    article = Article(key="big", title="t", published_at=T0, extra={"views": 2**70, "ratio": 0.1, "neg": -(2**64)})
    assert store_batch(pg_session, [StoredItem(article, Prediction("earnings", 0.5, "neutral", 0.9, "v1"))]) == 1
    assert pg_session.scalars(select(articles.c.extra)).one() == {"views": 2**70, "ratio": 0.1, "neg": -(2**64)}


# --- volume ---


def test_a_batch_of_5000_items(pg_session: Session) -> None:
    batch = [
        make_item(
            f"bulk-{i}",
            offset=i,
            published_at=T0 + timedelta(seconds=i),
            sentiment=("negative", "neutral", "positive")[i % 3],
            tickers=("AAPL", f"T{i % 50}"),
        )
        for i in range(5000)
    ]
    dialect = pg_session.get_bind().dialect.name

    started = time.perf_counter()
    assert store_batch(pg_session, batch) == 5000
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert store_batch(pg_session, batch) == 0
    again = time.perf_counter() - started
    print(f"\nstore_batch 5000 items on {dialect}: new {first:.2f}s, redelivered {again:.2f}s")

    assert count_articles(pg_session) == 5000
    assert count_classifications(pg_session) == 5000
    # Generous: a regression to one round trip per row would take far longer than this.
    assert first < 30


# --- schema management ---


def test_ensure_schema_refuses_an_empty_postgresql_database(pg_empty_url: str) -> None:
    engine = make_engine(pg_empty_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(SchemaMissing, match="monitor db upgrade"):
            ensure_schema(engine)

        upgrade(engine)
        assert current_revision(engine) == head_revision()
        ensure_schema(engine)  # now fine

        downgrade(engine, "base")
        assert current_revision(engine) is None
        leftovers = set(inspect(engine).get_table_names()) | set(inspect(engine).get_view_names())
        assert leftovers <= {"alembic_version"}
        with pytest.raises(SchemaMissing):
            ensure_schema(engine)
    finally:
        engine.dispose()


def test_ensure_schema_migrates_when_asked(pg_empty_url: str) -> None:
    """The embedded database migrates itself (monitor/app.py asks for it)."""
    engine = make_engine(pg_empty_url)
    try:
        ensure_schema(engine, migrate=True)
        ensure_schema(engine, migrate=True)  # idempotent
        assert current_revision(engine) == head_revision()
        assert {"article_sentiment", "sentiment_hourly"} <= set(inspect(engine).get_view_names())
    finally:
        engine.dispose()


def test_models_match_the_migrations(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_ensure_schema_reports_an_unreachable_server_as_transient() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/nothing", connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            ensure_schema(engine)
    finally:
        engine.dispose()
    assert is_transient(caught.value)
    assert is_transient(caught.value.__cause__ or caught.value)


def test_is_transient_says_no_to_bugs(pg_session: Session) -> None:
    with pytest.raises(Exception) as missing_table:
        pg_session.execute(text("SELECT * FROM no_such_table"))
    assert not is_transient(missing_table.value)
    assert not is_transient(ValueError("bad data"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db?sslmode=require", "postgresql+psycopg://u@h/db?sslmode=require"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
