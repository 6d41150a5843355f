"""Analyst SQL at scale: COPY N synthetic articles into PostgreSQL, then time every query in docs/sql.md.

    python -m bench.sql                          # 10,000,000 articles into database monitor_bench_sql (~20 min)
    python -m bench.sql --reuse                  # time the queries again on the loaded database
    python -m bench.sql --articles 200000        # a quick look

What it does: drops and recreates the database (unless --reuse), applies the migrations, streams
articles, one classification each and 0-2 tickers each with COPY (the fastest way PostgreSQL takes rows),
builds the hourly rollups from them exactly as `monitor db rebuild-rollups` does, ANALYZEs, then runs
each documented query --repeats times and prints the median. The articles span the 60 days before
2026-11-20 12:00 UTC, the "now" the documented queries use. Goal (issue 3): sentiment_hourly over 30
days in <= 200 ms at 10 million articles.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from bench.common import REPO, machine, median, print_machine
from storage import db as storage_db
from storage.rollups import rebuild as rebuild_rollups

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=60)
DOC = REPO / "docs" / "sql.md"
ROLLUP_GOAL_MS = 200.0
SENTIMENT_HOURLY_30D = (
    "select bucket, topic, total, negative, negative_share from sentiment_hourly "
    "where bucket >= timestamp '2026-11-20 12:00' - interval '30 days' order by bucket, topic"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sql", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--articles", type=int, default=10_000_000)
    p.add_argument("--admin-url", default="postgresql://127.0.0.1:5432/test", help="where CREATE DATABASE runs")
    p.add_argument("--database", default="monitor_bench_sql")
    p.add_argument("--reuse", action="store_true", help="skip the load; time the queries on what is there")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args(argv)


def documented_queries(doc: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)]


def topics() -> list[str]:
    classes = REPO / "data" / "tfn_topic" / "classes.txt"
    if classes.is_file():
        return [t for t in classes.read_text().splitlines() if t]
    return [f"Topic {i:02d}" for i in range(20)]


def _rows(n: int, seed: int) -> Iterator[tuple[str, str, str]]:
    """(articles line, classifications line, ticker lines) in COPY text format, oldest article first."""
    rng = random.Random(seed)
    names = topics()
    sources = [f"source-{i:02d}" for i in range(40)]
    tickers = [f"T{i:03d}" for i in range(400)]
    start = NOW - SPAN
    step = SPAN.total_seconds() / n
    stamp = NOW.isoformat()
    for i in range(1, n + 1):
        at = (start + timedelta(seconds=i * step)).isoformat()
        picked = rng.sample(tickers, rng.choice((0, 0, 0, 1, 1, 2)))
        topic = names[rng.randrange(len(names))]
        sentiment = rng.choices(("negative", "neutral", "positive"), (0.3, 0.45, 0.25))[0]
        article = (f"{i}\tbench-{i}\t\\N\tSynthetic headline {i} about {topic}\t\\N\thttps://news.example/{i}\t"
                   f"{sources[i % len(sources)]}\ten\t{at}\t{json.dumps(picked)}\t{{}}\n")
        classification = (f"{i}\tbench-v1\t{topic}\t0.9\t{sentiment}\t0.8\t\\N\t\\N\t\\N\t[]\t{stamp}\n")
        yield article, classification, "".join(f"{i}\t{t}\n" for t in picked)


def load(engine: Engine, n: int, seed: int) -> None:
    columns = {
        "articles": "id, key, external_id, title, body, url, source, lang, published_at, tickers, extra",
        "classifications": "article_id, model_version, topic, topic_score, sentiment, sentiment_score, "
        "p_negative, p_neutral, p_positive, highlights, classified_at",
        "article_tickers": "article_id, ticker",
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        rows = _rows(n, seed)
        chunk = 200_000
        for done in range(0, n, chunk):
            batch = [next(rows) for _ in range(min(chunk, n - done))]
            for position, table in enumerate(columns):
                with cursor.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    copy.write("".join(row[position] for row in batch))
            raw.commit()
            rate = (done + len(batch)) / (time.perf_counter() - started)
            print(f"  loaded {done + len(batch):>11,} articles ({rate:,.0f}/s)", flush=True)
        cursor.execute("SELECT setval('articles_id_seq', (SELECT max(id) FROM articles))")
        raw.commit()
    finally:
        raw.close()


def time_query(engine: Engine, sql: str, repeats: int) -> tuple[float, int]:
    times, rows = [], 0
    with engine.connect() as conn:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = len(conn.execute(text(sql)).all())
            times.append((time.perf_counter() - started) * 1000)
    return median(times), rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print_machine(info)
    url = re.sub(r"/[^/]*$", f"/{args.database}", args.admin_url)
    if not args.reuse:
        admin = create_engine(storage_db.normalize_url(args.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{args.database}"'))
            conn.execute(text(f'CREATE DATABASE "{args.database}"'))
        admin.dispose()
    engine = storage_db.make_engine(url)
    if not args.reuse:
        storage_db.upgrade(engine)
        print(f"COPY {args.articles:,} synthetic articles into {args.database} ...", flush=True)
        started = time.perf_counter()
        load(engine, args.articles, args.seed)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        with Session(engine) as session, session.begin():
            rebuild_rollups(session)
        rolled = time.perf_counter() - started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"load {loaded:.0f} s, rollup rebuild {rolled:.0f} s")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
    print(f"articles stored: {stored:,}; each query run {args.repeats} times, median:")
    results = {}
    queries = [("sentiment_hourly, 30 days", SENTIMENT_HOURLY_30D)] + [
        (f"docs/sql.md example {i}", sql) for i, sql in enumerate(documented_queries(DOC), start=1)
    ]
    for name, sql in queries:
        ms, rows = time_query(engine, sql, args.repeats)
        results[name] = round(ms, 1)
        print(f"  {ms:9.1f} ms  {rows:>6} rows  {name}")
    goal = results["sentiment_hourly, 30 days"] <= ROLLUP_GOAL_MS
    print(f"goal sentiment_hourly_30d_<=_{ROLLUP_GOAL_MS:.0f}_ms: {'PASS' if goal else 'FAIL'}")
    print(json.dumps({"bench": "sql", "machine": info, "articles": stored, "median_ms": results}))
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
