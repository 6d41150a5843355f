"""Analysts' ad-hoc SQL (``monitor sql``): one query, read-only, with bounded time, whoever connects.

Three layers, none trusted alone and each tested alone (issue 13, docs/sql.md): ``storage.sql_gate`` parses the
text with PostgreSQL's grammar first; PostgreSQL runs what passes in a ``READ ONLY`` transaction, always rolled
back, with ``SET LOCAL`` timeouts and ``SET LOCAL ROLE monitor_reader`` (whatever the gate misses runs with a
reader's rights); migration 0006 takes rights away from that role. A *superuser* session could switch the role
back with ``set_config``, which only the gate stops: docker-compose connects as a non-superuser for that reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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

ROLE_MISSING_MESSAGE = (f"the read-only role {READER_ROLE} does not exist in this database's server: run "
                        "`monitor db upgrade` (migration 0003 creates it, 0006 hardens it)")


def run_read_only(engine: Engine, sql: str, timeout_ms: int,
                  max_rows: int = DEFAULT_MAX_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one query read-only; return its column names and rows (both empty for a statement that
    returns no rows). Raises ``QueryRefused``, ``QueryTimeout`` or ``QueryError`` (also for a result of
    more than ``max_rows`` rows or ``MAX_RESULT_BYTES`` bytes); nothing is changed."""
    _check_timeout(timeout_ms)
    if not sql.strip():
        raise QueryError("empty query")
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
    _check_timeout(timeout_ms)
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
                    error = _query_error(exc, timeout_ms)
                    if isinstance(error, DatabaseUnavailable):
                        raise error from exc  # storage.db.is_transient follows the cause
                    raise error from None
        finally:
            if not conn.closed:
                conn.rollback()  # read-only anyway; never leave a transaction open on a pooled connection


def _check_timeout(timeout_ms: int) -> None:
    if not 1 <= timeout_ms <= MAX_TIMEOUT_MS:
        raise ValueError(f"timeout must be 1 to {MAX_TIMEOUT_MS} ms, got {timeout_ms}")


def _collect_bounded(rows: Iterable[Any], max_rows: int) -> list[tuple[Any, ...]]:
    """Every row; ``QueryError`` as soon as the result passes ``max_rows`` rows or ``MAX_RESULT_BYTES`` (text
    and bytes counted by length)."""
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
            raise QueryError(ROLE_MISSING_MESSAGE) from None
        if isinstance(exc, pg.InsufficientPrivilege):
            raise QueryError(
                f"this database user may not SET ROLE {READER_ROLE}: run `monitor db upgrade` as it, or "
                f"GRANT {READER_ROLE} TO it") from None
        if isinstance(exc, psycopg.OperationalError):
            raise DatabaseUnavailable(f"database unavailable: {first_line(exc)}") from exc
        raise QueryError(first_line(exc)) from None
    cur.execute("SELECT current_user")
    row = cur.fetchone()
    if row is None or row[0] != READER_ROLE:  # belt and braces: never run the query as anyone else
        raise QueryError(f"could not switch to the role {READER_ROLE}")


def _query_error(exc: psycopg.Error, timeout_ms: int) -> Exception:
    if isinstance(exc, pg.QueryCanceled):  # statement_timeout
        return QueryTimeout(f"query cancelled after the {timeout_ms} ms statement timeout")
    if isinstance(exc, pg.LockNotAvailable):  # lock_timeout
        return QueryTimeout(f"query cancelled: waited {timeout_ms} ms for a lock (lock timeout)")
    if isinstance(exc, pg.ReadOnlySqlTransaction | pg.InsufficientPrivilege) or (
        # PostgreSQL 18 (the embedded server) refuses to RESET transaction_read_only at all; 15 got as far as the
        # write, a read-only violation
        isinstance(exc, pg.FeatureNotSupported) and "transaction_read_only" in str(exc)
    ):
        return QueryRefused(f"refused, monitor sql is read-only: {first_line(exc)}")
    if "multiple commands" in str(exc):
        return QueryRefused("one statement at a time, please")
    if isinstance(exc, psycopg.OperationalError):  # connection lost, server shutting down and the like
        return DatabaseUnavailable(f"database unavailable: {first_line(exc)}")
    return QueryError(first_line(exc))
