"""Analysts' ad-hoc SQL (``monitor sql``): one statement, read-only, with a statement timeout.

The database enforces read-only, not a parser of ours: PostgreSQL runs the statement inside
``SET TRANSACTION READ ONLY`` (and the transaction is rolled back afterwards whatever happens); SQLite opens
the file with ``mode=ro`` and ``PRAGMA query_only``. Two things a read-only transaction does not stop are
refused before anything is sent:

- several statements in one string (``select 1; commit; delete ...`` would end the read-only transaction):
  PostgreSQL gets the text through the extended protocol, which accepts exactly one statement, and
  Python's sqlite3 ``execute`` refuses more than one;
- ``COPY``: PostgreSQL allows ``COPY ... TO PROGRAM`` in a read-only transaction, and that runs a shell
  command on the server.

The keyword check below only makes the common refusals say what happened in plain words; anything it
misses (``WITH d AS (DELETE ...) SELECT``, ``EXPLAIN ANALYZE UPDATE``, a writing function) is still refused
by the database and reported as ``QueryRefused``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy import Engine

from storage.db import DatabaseUnavailable


class QueryError(Exception):
    """The query could not run (syntax error, unknown table, ...); the message is one line."""


class QueryRefused(QueryError):
    """The query would write (or run something outside the database) and was not run."""


class QueryTimeout(QueryError):
    """The query ran longer than its statement timeout and was cancelled."""


# First keywords of statements that write or act outside a read-only query. COPY is the one that matters
# (see the module docstring); the rest get a clearer message than the database's.
_REFUSED_KEYWORDS = frozenset({
    "alter", "analyze", "attach", "call", "cluster", "comment", "copy", "create", "delete", "detach", "do",
    "drop", "grant", "import", "insert", "load", "lock", "merge", "reassign", "refresh", "reindex",
    "replace", "revoke", "security", "truncate", "update", "upsert", "vacuum",
})
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")

_PG_READ_ONLY_VIOLATION = "25006"  # read_only_sql_transaction
_PG_INSUFFICIENT_PRIVILEGE = "42501"
_PG_QUERY_CANCELED = "57014"  # statement_timeout fired


def first_keyword(sql: str) -> str:
    """The statement's first word, lower case, after comments and opening parentheses ('' if none)."""
    noise = _LEADING_NOISE.match(sql)
    match = _WORD.match(sql, noise.end() if noise else 0)
    return match.group(0).lower() if match else ""


def run_read_only(engine: Engine, sql: str, timeout_ms: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement read-only; return its column names and rows (both empty for a statement that
    returns no rows). Raises ``QueryRefused``, ``QueryTimeout`` or ``QueryError``; nothing is changed."""
    if timeout_ms < 1:
        raise ValueError(f"timeout must be at least 1 ms, got {timeout_ms}")
    if not sql.strip():
        raise QueryError("empty query")
    keyword = first_keyword(sql)
    if keyword in _REFUSED_KEYWORDS:
        raise QueryRefused(f"{keyword.upper()} refused: monitor sql is read-only")
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return _run_postgresql(engine, sql, timeout_ms)
    if dialect == "sqlite":
        return _run_sqlite(engine, sql, timeout_ms)
    raise NotImplementedError(f"read-only queries support postgresql and sqlite, not {dialect!r}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _run_postgresql(engine: Engine, sql: str, timeout_ms: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    # engine.connect(), not raw_connection(): a failure to connect comes wrapped as SQLAlchemy's
    # OperationalError, which storage.db.is_transient (and so the CLI's "database unavailable") knows.
    with engine.connect() as sa_connection:
        conn = sa_connection.connection.driver_connection
        assert isinstance(conn, psycopg.Connection)
        try:
            with conn.cursor() as cur:
                # psycopg opens the transaction on the first execute; SET TRANSACTION must be its first statement.
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout_ms)}ms",))
                # prepare=True: the extended protocol, which accepts exactly one statement, and no
                # client-side parameter parsing, so a literal % in the query stays itself.
                cur.execute(sql, prepare=True)
                if cur.description is None:
                    return [], []
                columns = [d.name for d in cur.description]
                return columns, [tuple(row) for row in cur.fetchall()]
        except psycopg.Error as exc:
            if exc.sqlstate == _PG_QUERY_CANCELED:
                raise QueryTimeout(f"query cancelled after the {timeout_ms} ms statement timeout") from None
            if exc.sqlstate in (_PG_READ_ONLY_VIOLATION, _PG_INSUFFICIENT_PRIVILEGE):
                raise QueryRefused(f"refused, monitor sql is read-only: {_first_line(exc)}") from None
            if "multiple commands" in str(exc):
                raise QueryError("one statement at a time, please") from None
            if isinstance(exc, psycopg.OperationalError):  # connection lost and the like
                raise DatabaseUnavailable(f"database unavailable: {_first_line(exc)}") from exc
            raise QueryError(_first_line(exc)) from None
        finally:
            if not conn.closed:
                conn.rollback()  # read-only anyway; never leave a transaction open on a pooled connection


def _run_sqlite(engine: Engine, sql: str, timeout_ms: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    database = engine.url.database
    if not database or database == ":memory:":
        raise QueryError("monitor sql needs a SQLite database file, not an in-memory database")
    path = Path(database)
    if not path.is_file():
        raise QueryError(f"no such database file: {path}")
    try:
        # mode=ro: the file is opened read-only; query_only: belt and braces, refuses writes per connection.
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise QueryError(f"cannot open {path}: {_first_line(exc)}") from None
    deadline = time.monotonic() + timeout_ms / 1000
    timed_out = False

    def _interrupt_when_late() -> int:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline
        return 1 if timed_out else 0  # non-zero interrupts the running statement

    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_progress_handler(_interrupt_when_late, 1000)  # every 1000 VM instructions
        cur = conn.execute(sql)  # raises ProgrammingError for more than one statement
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, [tuple(row) for row in rows]
    except sqlite3.Error as exc:
        message = _first_line(exc)
        if timed_out:
            raise QueryTimeout(f"query cancelled after the {timeout_ms} ms statement timeout") from None
        if "readonly" in message or "read-only" in message or "query_only" in message:
            raise QueryRefused(f"refused, monitor sql is read-only: {message}") from None
        if "one statement at a time" in message:
            raise QueryError("one statement at a time, please") from None
        raise QueryError(message) from None
    finally:
        conn.close()
