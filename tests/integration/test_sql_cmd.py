"""`monitor sql` as a real subprocess against real PostgreSQL (a configured one, and the embedded one): read-only
enforcement, the statement timeout, the four output formats (control characters escaped, valid JSON), and the three
ways to give the query. The attack battery and each layer alone: tests/integration/test_sql_layers.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from storage.db import make_engine, upgrade
from storage.readonly import run_read_only
from storage.rollups import rebuild as rebuild_rollups
from tests.e2e.support import assert_one_line_error, monitor_env, run_monitor

_SEED = [
    "INSERT INTO articles (id, key, title, source, published_at) VALUES "
    "(1, 'k1', 'Bank misses estimates', 'wire', '2026-11-20 10:15:00+00:00'), "
    "(2, 'k2', 'Bank beats 50% of forecasts', 'wire', '2026-11-20 10:45:00+00:00'), "
    "(3, 'k3', 'Oil steady', 'daily', '2026-11-20 11:05:00+00:00')",
    "INSERT INTO classifications (article_id, model_version, topic, topic_score, sentiment, sentiment_score, "
    "classified_at) VALUES "
    "(1, 'v1', 'Earnings', 0.9, 'negative', 0.8, '2026-11-20 12:00:00+00:00'), "
    "(2, 'v1', 'Earnings', 0.9, 'positive', 0.7, '2026-11-20 12:00:00+00:00'), "
    "(3, 'v1', 'Energy', 0.8, 'neutral', 0.6, '2026-11-20 12:00:00+00:00')",
    "INSERT INTO article_tickers (article_id, ticker) VALUES (1, 'BNK'), (2, 'BNK')",
]
_COUNTS = "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM classifications), " \
          "(SELECT count(*) FROM article_tickers)"


def _seed(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for statement in _SEED:
            session.execute(text(statement))
        rebuild_rollups(session)  # raw INSERTs bypass store_batch, which keeps the rollups


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(_COUNTS)).one())


@pytest.fixture(scope="module")
def pg_seeded(pg_database_factory: Callable[[], str]) -> Iterator[tuple[str, Engine]]:
    url = pg_database_factory()
    engine = make_engine(url)
    upgrade(engine)
    _seed(engine)
    yield url, engine
    engine.dispose()


def _sql(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_monitor("sql", *args, env=monitor_env(database_url=url), stdin=stdin)


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.parametrize("statement, needle", [
    ("INSERT INTO articles (key, title, published_at) VALUES ('x', 'x', now())", "INSERT refused"),
    ("DELETE FROM classifications", "DELETE refused"),
    ("DROP TABLE article_tickers CASCADE", "DROP refused"),
    ("COPY (select 1) TO PROGRAM 'true'", "COPY refused"),
    # The old first-keyword check missed these: an empty statement or a comment first.
    (";COPY (select 1) TO PROGRAM 'true'", "COPY refused"),
    ("/**/COPY (select 1) TO PROGRAM 'true'", "COPY refused"),
    ("WITH gone AS (DELETE FROM articles RETURNING id) SELECT count(*) FROM gone", "read-only"),
    ("SELECT nextval('articles_id_seq')", "read-only"),
    ("SELECT 1 AS x INTO scratch", "read-only"),
    # A second statement would run after the first one's COMMIT, outside the read-only transaction.
    ("SELECT 1; COMMIT; DELETE FROM articles", "one statement"),
])
def test_writes_are_refused_on_postgresql(pg_seeded: tuple[str, Engine], statement: str, needle: str) -> None:
    url, engine = pg_seeded
    before = _counts(engine)
    proc = _sql(url, statement)
    assert_one_line_error(proc, "sql", needle)
    assert proc.stdout == ""
    assert _counts(engine) == before == (3, 3, 2)


def test_statement_timeout_is_one_line(pg_seeded: tuple[str, Engine]) -> None:
    url, _ = pg_seeded
    proc = _sql(url, "--timeout-ms", "200", "select count(*) from generate_series(1, 10000000000)")
    assert_one_line_error(proc, "sql", "200 ms", "timeout")


def test_table_is_the_default_and_aligned(pg_seeded: tuple[str, Engine]) -> None:
    url, _ = pg_seeded
    proc = _sql(url, "select topic, count(*) as n from article_sentiment group by topic order by topic")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "topic    | n",
        "---------+--",
        "Earnings | 2",
        "Energy   | 1",
        "(2 rows)",
    ]


def test_csv_and_json_lines(pg_seeded: tuple[str, Engine]) -> None:
    url, _ = pg_seeded
    query = "select article_id, title, sentiment_score from article_sentiment order by article_id"
    as_csv = _sql(url, "--format", "csv", query)
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["article_id", "title", "sentiment_score"],
        ["1", "Bank misses estimates", "0.8"],
        ["2", "Bank beats 50% of forecasts", "0.7"],
        ["3", "Oil steady", "0.6"],
    ]
    as_json = _sql(url, "--format", "json", query)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)  # one document
    assert rows[1] == {"article_id": 2, "title": "Bank beats 50% of forecasts", "sentiment_score": 0.7}
    assert len(rows) == 3
    as_jsonl = _sql(url, "--format", "jsonl", query)
    assert as_jsonl.returncode == 0, as_jsonl.stderr
    assert [json.loads(line) for line in as_jsonl.stdout.splitlines()] == rows


def test_hostile_text_is_escaped_and_json_stays_valid(pg_seeded: tuple[str, Engine]) -> None:
    url, _ = pg_seeded
    hostile = "'Bank' || chr(27) || '[2J' || chr(13) || chr(10) || 'x' || chr(8238) || 'y' || chr(155) || 'z'"
    query = (f"select {hostile} as title, {hostile} as title, 'NaN'::float8 as a, '-Infinity'::float8 as b, "
             "'NaN'::numeric as c, array[1.5, 'Infinity']::float8[] as d, '{\"k\": 1}'::jsonb as e")
    expected = r"Bank\x1b[2J\r\nx\u202ey\x9bz"  # as printed: escapes, not the characters
    table = _sql(url, query)
    assert table.returncode == 0, table.stderr
    assert not any(c in table.stdout for c in ("\x1b", "\r", "\u202e", "\x9b")), repr(table.stdout)
    assert len(table.stdout.splitlines()) == 4 and expected in table.stdout
    as_csv = _sql(url, "--format", "csv", query)
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout)))[1][:2] == [expected, expected]
    for fmt in ("json", "jsonl"):
        proc = _sql(url, "--format", fmt, query)
        assert proc.returncode == 0, proc.stderr
        assert not any(c in proc.stdout for c in ("\x1b", "\r", "\u202e", "\x9b"))
        parsed = json.loads(proc.stdout)
        row = parsed[0] if fmt == "json" else parsed
        title = "Bank\x1b[2J\r\nx\u202ey\x9bz"
        assert row == {"title": title, "title_2": title, "a": None, "b": None, "c": None, "d": [1.5, None],
                       "e": {"k": 1}}


def test_query_from_stdin_and_from_a_file(pg_seeded: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = pg_seeded
    query = "-- the tickers\nselect ticker, total from ticker_sentiment_hourly order by ticker;\n"
    from_stdin = _sql(url, "--format", "csv", "-", stdin=query)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == "ticker,total\nBNK,2\n"
    path = tmp_path / "q.sql"
    path.write_text(query)
    from_file = _sql(url, "--format", "csv", "--file", str(path))
    assert from_file.stdout == from_stdin.stdout
    missing = _sql(url, "--file", str(tmp_path / "nope.sql"))
    assert_one_line_error(missing, "sql", "no such file")


def test_bad_sql_and_no_query_are_one_line_errors(pg_seeded: tuple[str, Engine]) -> None:
    url, _ = pg_seeded
    assert_one_line_error(_sql(url, "selec 1"), "sql", "syntax error")
    assert_one_line_error(_sql(url), "sql", "give a query")


def test_the_reader_role_can_read_and_cannot_write(pg_seeded: tuple[str, Engine]) -> None:
    from sqlalchemy.engine import make_url

    url, engine = pg_seeded
    reader_url = make_url(url).set(username="monitor_reader", password=None).render_as_string(hide_password=False)
    reader = make_engine(reader_url)
    try:
        assert run_read_only(reader, "select count(*) from alert_history", 5000) == (["count"], [(0,)])
        with reader.begin() as conn, pytest.raises(Exception, match="read-only transaction"):
            conn.execute(text("DELETE FROM articles"))  # read-only by default (migration 0006)
        with reader.begin() as conn, pytest.raises(Exception, match="permission denied"):
            conn.execute(text("SET TRANSACTION READ WRITE"))  # and without that, the grants refuse
            conn.execute(text("DELETE FROM articles"))
    finally:
        reader.dispose()
    assert _counts(engine) == (3, 3, 2)


# ---------------------------------------------------------------- the embedded server (no MONITOR_DATABASE_URL)


def test_the_embedded_server_answers_reads_and_refuses_writes(embedded_data_dir: Path) -> None:
    env = monitor_env(database_url=None, embedded_data_dir=embedded_data_dir)
    ok = run_monitor("sql", "--format", "jsonl",
                     "select version() like 'PostgreSQL 18%' as pg, current_database() as db, current_user as who",
                     env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"pg": True, "db": "monitor", "who": "monitor_reader"}
    assert_one_line_error(run_monitor("sql", "WITH x AS (SELECT 1) DELETE FROM articles", env=env), "sql", "read-only")
    url = run_monitor("db", "url", env=env)
    assert url.returncode == 0, url.stderr
    assert url.stdout.strip() == f"postgresql://postgres@/monitor?host={quote(str(embedded_data_dir.resolve()), '')}"
    with psycopg.connect(url.stdout.strip()) as conn:  # what psql and BI tools would do with it
        assert conn.execute("select to_regclass('article_sentiment') is not null").fetchone() == (True,)


def test_an_unreachable_server_is_one_line() -> None:
    proc = _sql("postgresql://postgres@127.0.0.1:1/nothing", "select 1")
    assert_one_line_error(proc, "sql", "database unavailable")
