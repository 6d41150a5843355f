"""Analysts' ad-hoc SQL (``monitor sql``): one query, read-only, with bounded time. Three layers, each tested
alone (docs/sql.md): the parser gate (``storage.sql_gate``), then a ``READ ONLY`` transaction, always rolled back,
with ``SET LOCAL`` timeouts and ``SET LOCAL ROLE monitor_reader`` (rights taken away by migration 0006)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

import psycopg
from psycopg import errors as pg
from sqlalchemy import Engine

from storage.db import DatabaseUnavailable, first_line
from storage.sql_gate import GateError, GateRefusal, check_query


class QueryError(Exception):
    """The query could not run (syntax error, unknown table, ...); the message is one line."""


class QueryRefused(QueryError):
    """The query would write (or run something outside the database) and was not run."""


class QueryTimeout(QueryError):
    """The query ran longer than its statement timeout and was cancelled."""


READER_ROLE = "monitor_reader"
MAX_TIMEOUT_MS = 300_000  # 5 minutes: a longer query is a job for a replica, not for the daemon's database
# The whole result is held before it is printed (the table format needs every width), so it is bounded:
# an unbounded `select * from articles` on a large history, or `select repeat('x', 1e9)`, would take the
# client's memory. A result past either cap is an error, never a silently cut export.
DEFAULT_MAX_ROWS = 100_000
MAX_RESULT_BYTES = 256 * 1024 * 1024
_FETCH_ROWS = 1_000  # rows per chunk from the server
_VALUE_OVERHEAD = 16  # bytes counted for a non-text value (a number, a time, None)


def run_read_only(engine: Engine, sql: str, timeout_ms: int,
                  max_rows: int = DEFAULT_MAX_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one query read-only; return its column names and rows. Raises ``QueryRefused``, ``QueryTimeout`` or
    ``QueryError`` (also for a result over ``max_rows`` rows or ``MAX_RESULT_BYTES`` bytes); nothing is changed."""
    try:
        check_query(sql)
    except GateRefusal as exc:
        raise QueryRefused(str(exc)) from None
    except GateError as exc:
        raise QueryError(str(exc)) from None
    return run_unchecked(engine, sql, timeout_ms, max_rows)


def run_unchecked(engine: Engine, sql: str, timeout_ms: int,
                  max_rows: int = DEFAULT_MAX_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The database layers alone, without the parser gate: for ``run_read_only`` and for the tests that
    show those layers hold by themselves. Do not call it with text that did not pass the gate."""
    if not 1 <= timeout_ms <= MAX_TIMEOUT_MS:
        raise ValueError(f"timeout must be 1 to {MAX_TIMEOUT_MS} ms, got {timeout_ms}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    # engine.connect(), not raw_connection(): a failure to connect comes wrapped as SQLAlchemy's
    # OperationalError, which storage.db.is_transient (and so the CLI's "database unavailable") knows.
    with engine.connect() as sa_connection:
        conn = sa_connection.connection.driver_connection
        assert isinstance(conn, psycopg.Connection)
        try:
            with conn.cursor() as cur:
                _enter_reader_transaction(cur, timeout_ms)
                try:
                    # stream(): the extended protocol, which accepts exactly one statement, no client-side
                    # parameter parsing (a literal % stays itself), and rows fetched in chunks (libpq >= 17)
                    # so that the caps bound the client's memory, not only what is printed.
                    stream = cur.stream(sql, size=_FETCH_ROWS)
                    try:
                        rows = _collect_bounded(stream, max_rows)
                    finally:
                        # a cut-off result: closing psycopg's generator cancels the rest of the query
                        stream.close()  # type: ignore[attr-defined]
                    return ([d.name for d in cur.description], rows) if cur.description else ([], [])
                except psycopg.Error as exc:
                    _raise_query_error(exc, timeout_ms)
        finally:
            if not conn.closed:
                conn.rollback()  # read-only anyway; never leave a transaction open on a pooled connection


def _collect_bounded(rows: Iterable[Any], max_rows: int) -> list[tuple[Any, ...]]:
    """Every row; ``QueryError`` as soon as the result passes ``max_rows`` rows or ``MAX_RESULT_BYTES`` bytes."""
    collected: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        size += sum(len(v) if isinstance(v, str | bytes | bytearray | memoryview) else _VALUE_OVERHEAD
                    for v in row)
        collected.append(tuple(row))
        if len(collected) > max_rows:
            raise QueryError(f"the result has more than {max_rows:,} rows: add LIMIT or aggregate "
                             "(or raise --max-rows)")
        if size > MAX_RESULT_BYTES:
            raise QueryError(f"the result is larger than {MAX_RESULT_BYTES // 2**20} MiB: add LIMIT or select "
                             "fewer or shorter columns (left(body, 200))")
    return collected


def _enter_reader_transaction(cur: psycopg.Cursor[Any], timeout_ms: int) -> None:
    """READ ONLY, timeouts and the reader role, all transaction-local (psycopg opens the transaction on
    the first execute, and SET TRANSACTION must be its first statement)."""
    idle_ms = max(timeout_ms, 5_000)  # the rows are fetched before anything is printed: never idle long
    try:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute(
            "SELECT set_config('statement_timeout', %(t)s, true), set_config('lock_timeout', %(t)s, true), "
            "set_config('idle_in_transaction_session_timeout', %(idle)s, true), "
            # The gate parsed the text with standard_conforming_strings on; the server must read it alike,
            # or 'a\'' would end a literal here that the gate saw going on.
            "set_config('standard_conforming_strings', 'on', true)",
            {"t": f"{int(timeout_ms)}ms", "idle": f"{int(idle_ms)}ms"},
        )
        cur.execute(f"SET LOCAL ROLE {READER_ROLE}")
    except psycopg.Error as exc:
        if isinstance(exc, pg.InvalidParameterValue) and "does not exist" in str(exc):
            raise QueryError(f"the read-only role {READER_ROLE} does not exist in this database's server: run "
                             "`monitor db upgrade` (migration 0003 creates it, 0006 hardens it)") from None
        if isinstance(exc, pg.InsufficientPrivilege):
            raise QueryError(
                f"this database user may not SET ROLE {READER_ROLE}: run `monitor db upgrade` as it, or "
                f"GRANT {READER_ROLE} TO it") from None
        _raise_query_error(exc, timeout_ms)
    cur.execute("SELECT current_user")
    row = cur.fetchone()
    if row is None or row[0] != READER_ROLE:  # belt and braces: never run the query as anyone else
        raise QueryError(f"could not switch to the role {READER_ROLE}")


def _raise_query_error(exc: psycopg.Error, timeout_ms: int) -> NoReturn:
    if isinstance(exc, pg.QueryCanceled):  # statement_timeout
        raise QueryTimeout(f"query cancelled after the {timeout_ms} ms statement timeout") from None
    if isinstance(exc, pg.LockNotAvailable):  # lock_timeout
        raise QueryTimeout(f"query cancelled: waited {timeout_ms} ms for a lock (lock timeout)") from None
    if isinstance(exc, pg.ReadOnlySqlTransaction | pg.InsufficientPrivilege) or (
        # PostgreSQL 18 (the embedded server) refuses to RESET transaction_read_only at all; 15 got as far as the
        # write, a read-only violation
        isinstance(exc, pg.FeatureNotSupported) and "transaction_read_only" in str(exc)
    ):
        raise QueryRefused(f"refused, monitor sql is read-only: {first_line(exc)}") from None
    if "multiple commands" in str(exc):
        raise QueryRefused("one statement at a time, please") from None
    if isinstance(exc, psycopg.OperationalError):  # connection lost and the like: is_transient follows the cause
        raise DatabaseUnavailable(f"database unavailable: {first_line(exc)}") from exc
    raise QueryError(first_line(exc)) from None
