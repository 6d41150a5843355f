"""Every example in docs/sql.md runs on real PostgreSQL against the small dataset below and prints exactly
the result the document shows (as `monitor sql` prints it: storage.readonly + the table format).

The examples are written against the fixed "now" 2026-11-20 12:00 UTC, never now(), so results are stable.
After changing the dataset or a query on purpose, regenerate the result blocks with
``MONITOR_UPDATE_SQL_DOCS=1 pytest tests/integration/test_sql_docs.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from monitor.sql_cmd import format_table
from storage import schema
from storage.db import make_engine, upgrade
from storage.readonly import run_read_only
from storage.rollups import rebuild as rebuild_rollups

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
EXAMPLE = re.compile(r"```sql\n(?P<sql>.*?)```\n+```text\n(?P<result>.*?)```", re.DOTALL)

# (id, published_at UTC, source, title, tickers, topic, sentiment, sentiment_score, highlights)
ARTICLES: list[tuple[int, str, str, str, list[str], str, str, float, list[str]]] = [
    # the last 24 hours before 2026-11-20 12:00
    (1, "2026-11-20 11:40", "Reuters", "First Harbor Bank halts withdrawals after liquidity scare", ["BNK"],
     "Banking", "negative", 0.97, ["halts", "withdrawals", "liquidity"]),
    (2, "2026-11-20 11:10", "Bloomberg", "Regional lenders slide as First Harbor contagion fears spread", ["BNK"],
     "Banking", "negative", 0.93, ["slide", "contagion", "liquidity"]),
    (3, "2026-11-20 10:50", "FT", "First Harbor Bank seeks emergency funding", ["BNK"],
     "Banking", "negative", 0.91, ["emergency", "funding", "liquidity"]),
    (4, "2026-11-20 10:20", "MarketWatch", "Deposit outflows hit mid-sized banks", [],
     "Banking", "negative", 0.88, ["outflows", "withdrawals"]),
    (5, "2026-11-20 09:30", "Reuters", "Acme Corp beats quarterly earnings estimates", ["ACME"],
     "Earnings", "positive", 0.95, ["beats"]),
    (6, "2026-11-20 08:15", "Bloomberg", "Acme raises full-year guidance", ["ACME"],
     "Earnings", "positive", 0.90, ["raises"]),
    (7, "2026-11-20 07:05", "FT", "Brent crude steady ahead of OPEC meeting", ["OILX"],
     "Energy", "neutral", 0.80, ["steady"]),
    (8, "2026-11-19 22:40", "MarketWatch", "OilX cuts output forecast", ["OILX"],
     "Energy", "negative", 0.85, ["cuts"]),
    (9, "2026-11-19 18:00", "Reuters", "Central bank holds rates, signals patience", [],
     "Macro", "neutral", 0.77, ["holds"]),
    (10, "2026-11-19 14:30", "Bloomberg", "First Harbor Bank shares rebound in early trade", ["BNK"],
     "Banking", "positive", 0.70, ["rebound"]),
    # the 7 days before that
    (11, "2026-11-19 09:00", "Reuters", "First Harbor Bank reports steady deposits", ["BNK"],
     "Banking", "neutral", 0.80, ["steady"]),
    (12, "2026-11-18 15:00", "FT", "Banks post solid third-quarter results", ["BNK"],
     "Banking", "positive", 0.85, ["solid"]),
    (13, "2026-11-18 10:00", "Bloomberg", "OilX announces new drilling contracts", ["OILX"],
     "Energy", "positive", 0.82, ["new", "contracts"]),
    (14, "2026-11-17 13:30", "MarketWatch", "Acme warns of supply chain delays", ["ACME"],
     "Earnings", "negative", 0.80, ["warns", "delays"]),
    (15, "2026-11-16 16:45", "Reuters", "Inflation cools more than expected", [],
     "Macro", "positive", 0.88, ["cools"]),
    (16, "2026-11-15 11:00", "FT", "Natural gas prices fall on mild weather", [],
     "Energy", "negative", 0.75, ["fall"]),
    (17, "2026-11-14 09:20", "Bloomberg", "Regional bank lending growth slows", [],
     "Banking", "neutral", 0.70, ["slows"]),
    (18, "2026-11-13 14:10", "MarketWatch", "Acme opens new plant in Ohio", ["ACME"],
     "Earnings", "positive", 0.83, ["opens"]),
    (19, "2026-11-13 08:00", "Reuters", "Treasury yields edge higher", [],
     "Macro", "neutral", 0.72, ["edge"]),
    # older
    (20, "2026-11-10 10:00", "FT", "OilX settles pipeline lawsuit", ["OILX"],
     "Energy", "negative", 0.80, ["lawsuit"]),
]

# A later model version re-classified two articles (point in time: v1's rows stay).
RECLASSIFIED: list[tuple[int, str, str, float]] = [  # (article id, topic, sentiment, score)
    (10, "Banking", "neutral", 0.60),
    (8, "Energy", "negative", 0.88),
]

# (id, scope, key, window_start, negative, total, baseline, p_value, odds_ratio, fired_at,
#  resolved_at, resolved_negative, resolved_total); windows are an hour long.
ALERTS = [
    (1, "topic", "Earnings", "2026-11-17 13:00", 1, 1, 0.12, 0.0081, 7.3, "2026-11-17 14:01",
     "2026-11-17 16:01", 0, 1),
    (2, "topic", "Banking", "2026-11-20 10:00", 2, 2, 0.18, 0.0004, 9.1, "2026-11-20 11:01", None, None, None),
    (3, "ticker", "BNK", "2026-11-20 10:40", 2, 2, 0.10, 0.0009, 12.5, "2026-11-20 11:41", None, None, None),
    (4, "topic", "Energy", "2026-11-10 09:00", 1, 1, 0.20, 0.0120, 5.0, "2026-11-10 10:05",
     "2026-11-10 13:05", 0, 1),
]


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def load_dataset(engine: Engine) -> None:
    """Through the typed tables (their types convert the values the way the product's writes do)."""
    articles, tickers_, classifications = [], [], []
    for (aid, published, source, title, tickers, topic, sentiment, score, highlights) in ARTICLES:
        articles.append({"id": aid, "key": f"doc-{aid}", "title": title, "url": f"https://news.example/{aid}",
                         "source": source, "published_at": _ts(published), "tickers": tickers})
        tickers_ += [{"article_id": aid, "ticker": t} for t in tickers]
        classifications.append({"article_id": aid, "model_version": "news-v1", "topic": topic,
                                "topic_score": 0.9, "sentiment": sentiment, "sentiment_score": score,
                                "highlights": highlights, "classified_at": _ts(published)})
    for aid, topic, sentiment, score in RECLASSIFIED:
        classifications.append({"article_id": aid, "model_version": "news-v2", "topic": topic,
                                "topic_score": 0.9, "sentiment": sentiment, "sentiment_score": score,
                                "highlights": [], "classified_at": _ts("2026-11-20 11:55")})
    alerts = []
    for (alert_id, scope, key, start, neg, total, baseline, p, odds, fired, resolved, r_neg, r_total) in ALERTS:
        window_start = _ts(start)
        assert window_start is not None
        alerts.append({"id": alert_id, "rule": "negative_surge", "scope": scope, "key": key,
                       "window_start": window_start, "window_end": window_start + timedelta(hours=1),
                       "negative": neg, "total": total, "baseline": baseline, "p_value": p, "odds_ratio": odds,
                       "fired_at": _ts(fired), "last_notified_at": _ts(fired), "resolved_at": _ts(resolved),
                       "resolved_negative": r_neg, "resolved_total": r_total})
    with engine.begin() as conn:
        conn.execute(insert(schema.articles), articles)
        conn.execute(insert(schema.article_tickers), tickers_)
        conn.execute(insert(schema.classifications), classifications)
        conn.execute(insert(schema.alerts), alerts)
    # Rows inserted by hand bypass store_batch, which keeps the hourly rollups; recompute them as an operator
    # would after a manual load (`monitor db rebuild-rollups`).
    with Session(engine) as session, session.begin():
        rebuild_rollups(session)


def examples(doc: str) -> list[re.Match[str]]:
    return list(EXAMPLE.finditer(doc))


@pytest.fixture(scope="module")
def docs_engine(pg_database_factory: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    load_dataset(engine)
    yield engine
    engine.dispose()


def test_every_sql_block_has_a_result_and_there_are_ten() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert doc.count("```sql\n") == len(examples(doc)) >= 10


def test_documented_results(docs_engine: Engine) -> None:
    doc = DOC.read_text(encoding="utf-8")
    found = examples(doc)
    actual = []
    for match in found:
        columns, rows = run_read_only(docs_engine, match["sql"], 10_000)
        actual.append(format_table(columns, rows))
    if os.environ.get("MONITOR_UPDATE_SQL_DOCS") == "1":
        for match, result in reversed(list(zip(found, actual, strict=True))):
            doc = doc[: match.start("result")] + result + doc[match.end("result") :]
        DOC.write_text(doc, encoding="utf-8")
        return
    for match, result in zip(found, actual, strict=True):
        assert result == match["result"], f"docs/sql.md example:\n{match['sql']}"
