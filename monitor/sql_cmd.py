"""`monitor sql`: one read-only query against the monitor's database, printed as a table, CSV, JSON or JSON
lines.

The database side (the parser gate, the read-only transaction as monitor_reader, the timeouts) is
``storage.readonly``; this module reads the query, picks the database from the settings and prints
(``monitor.sql_output``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from monitor.argtypes import positive_int
from monitor.sql_output import FORMATS, format_table, write_result

__all__ = ["add_sql_parser", "cmd_sql", "format_table", "read_query", "write_result"]

DEFAULT_TIMEOUT_MS = 30_000
# The same cap as storage.readonly.MAX_TIMEOUT_MS (a test checks): a query that would run longer belongs on
# a replica, and an unbounded one can hold a connection and its snapshot for ever.
MAX_TIMEOUT_MS = 300_000


def timeout_ms(value: str) -> int:
    n = positive_int(value)
    if n > MAX_TIMEOUT_MS:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT_MS} (5 minutes), got {n}")
    return n


# The same defaults as storage.readonly (a test checks; importing it here would load the database drivers
# for every command's --help).
DEFAULT_MAX_ROWS = 100_000
MAX_RESULT_MIB = 256
MAX_ROWS_LIMIT = 10_000_000
MAX_QUERY_BYTES = 1_000_000  # a query text larger than this is a mistake (--file /dev/zero), not SQL


def max_rows(value: str) -> int:
    n = positive_int(value)
    if n > MAX_ROWS_LIMIT:
        raise argparse.ArgumentTypeError(f"at most {MAX_ROWS_LIMIT:,}, got {n}")
    return n


class SqlCommandError(ValueError):
    """A one-line error of `monitor sql` (cli.main prints ValueErrors as `monitor sql: error: ...`)."""


def add_sql_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sql", help="run one read-only SQL query (argument, - for stdin, or --file)",
        description="Run one read-only SQL query against MONITOR_DATABASE_URL, as the role monitor_reader. "
                    "Anything but one query is refused.",
    )
    p.add_argument("query", nargs="?", help="the SQL statement, or - to read it from stdin")
    p.add_argument("--file", type=Path, help="read the statement from this file (.sql)")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (aligned, default), csv (with a header), json (one array of objects), "
                        "jsonl (one object per line)")
    p.add_argument("--timeout-ms", type=timeout_ms, default=DEFAULT_TIMEOUT_MS,
                   help=f"statement timeout in milliseconds (default {DEFAULT_TIMEOUT_MS}, "
                        f"at most {MAX_TIMEOUT_MS})")
    p.add_argument("--max-rows", type=max_rows, default=DEFAULT_MAX_ROWS,
                   help=f"a larger result is an error, not a cut export (default {DEFAULT_MAX_ROWS:,}, at most "
                        f"{MAX_ROWS_LIMIT:,}; results over {MAX_RESULT_MIB} MiB are refused too)")
    p.add_argument("--database-url", help="overrides MONITOR_DATABASE_URL")
    p.set_defaults(fn=cmd_sql)
    return p


def read_query(query: str | None, file: Path | None, stdin: TextIO) -> str:
    if query is not None and file is not None:
        raise SqlCommandError("give the query as an argument or with --file, not both")
    if file is not None:
        if not file.is_file():
            raise SqlCommandError(f"no such file: {file}")
        with file.open("rb") as f:
            text = _decoded(f.read(MAX_QUERY_BYTES + 1), str(file))
    elif query == "-":
        text = _decoded(stdin.buffer.read(MAX_QUERY_BYTES + 1) if hasattr(stdin, "buffer")
                        else stdin.read(MAX_QUERY_BYTES + 1).encode("utf-8", "surrogatepass"), "stdin")
    elif query is not None:
        text = query
    else:
        raise SqlCommandError("give a query: monitor sql 'select ...', monitor sql - (stdin), or --file q.sql")
    if not text.strip():
        raise SqlCommandError("the query is empty")
    return text


def _decoded(data: bytes, where: str) -> str:
    if len(data) > MAX_QUERY_BYTES:
        raise SqlCommandError(f"the query in {where} is larger than {MAX_QUERY_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SqlCommandError(f"the query in {where} is not UTF-8 (byte {exc.start})") from None


def cmd_sql(args: argparse.Namespace) -> int:
    from monitor.app import database_url
    from monitor.config import load_settings
    from monitor.logs import setup_logging
    from storage.db import ensure_schema, make_engine
    from storage.readonly import QueryError, run_read_only

    sql = read_query(args.query, args.file, sys.stdin)
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.log_format)
    engine = make_engine(database_url(settings))
    try:
        if settings.database_url is None:  # the embedded database: nobody else migrates it (monitor_reader)
            ensure_schema(engine, migrate=True)
        columns, rows = run_read_only(engine, sql, args.timeout_ms, args.max_rows)
    except QueryError as exc:
        raise SqlCommandError(str(exc)) from None
    finally:
        engine.dispose()
    write_result(sys.stdout, columns, rows, args.format)
    return 0
