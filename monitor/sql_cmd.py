"""`monitor sql`: one read-only query against the monitor's database, printed as a table, CSV or JSON lines.

The database side (read-only transaction, statement timeout, what counts as a write) is
``storage.readonly``; this module reads the query, picks the database from the settings and prints.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from monitor.argtypes import positive_int

DEFAULT_TIMEOUT_MS = 30_000


class SqlCommandError(ValueError):
    """A one-line error of `monitor sql` (cli.main prints ValueErrors as `monitor sql: error: ...`)."""


def add_sql_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sql", help="run one read-only SQL query (argument, - for stdin, or --file)",
        description="Run one read-only SQL statement against MONITOR_DATABASE_URL. Writes are refused.",
    )
    p.add_argument("query", nargs="?", help="the SQL statement, or - to read it from stdin")
    p.add_argument("--file", type=Path, help="read the statement from this file (.sql)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table (aligned, default), csv (with a header), json (one object per row)")
    p.add_argument("--timeout-ms", type=positive_int, default=DEFAULT_TIMEOUT_MS,
                   help=f"statement timeout in milliseconds (default {DEFAULT_TIMEOUT_MS})")
    p.add_argument("--database-url", help="overrides MONITOR_DATABASE_URL")
    p.set_defaults(fn=cmd_sql)
    return p


def read_query(query: str | None, file: Path | None, stdin: TextIO) -> str:
    if query is not None and file is not None:
        raise SqlCommandError("give the query as an argument or with --file, not both")
    if file is not None:
        if not file.is_file():
            raise SqlCommandError(f"no such file: {file}")
        text = file.read_text(encoding="utf-8")
    elif query == "-":
        text = stdin.read()
    elif query is not None:
        text = query
    else:
        raise SqlCommandError("give a query: monitor sql 'select ...', monitor sql - (stdin), or --file q.sql")
    if not text.strip():
        raise SqlCommandError("the query is empty")
    return text


def cmd_sql(args: argparse.Namespace) -> int:
    from monitor.config import load_settings
    from monitor.logs import setup_logging
    from storage.db import make_engine
    from storage.readonly import QueryError, run_read_only

    sql = read_query(args.query, args.file, sys.stdin)
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        columns, rows = run_read_only(engine, sql, args.timeout_ms)
    except QueryError as exc:
        raise SqlCommandError(str(exc)) from None
    finally:
        engine.dispose()
    write_result(sys.stdout, columns, rows, args.format)
    return 0


# ---------------------------------------------------------------- output


def write_result(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if columns:
            writer.writerow(columns)
        writer.writerows([_text(v) for v in row] for row in rows)
    elif fmt == "json":
        for row in rows:
            out.write(json.dumps(dict(zip(columns, (_json_value(v) for v in row), strict=True)),
                              ensure_ascii=False) + "\n")
    else:
        out.write(format_table(columns, rows))
    out.flush()


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """psql-like: a header, a rule, one line per row (numbers right-aligned), then the row count."""
    if not columns:
        return "(no rows returned)\n"
    # One line per row: a newline inside a value (a multi-line body) is shown as \n.
    cells = [[_text(v).replace("\r", "\\r").replace("\n", "\\n") for v in row] for row in rows]
    numeric = [all(_is_number(row[i]) or row[i] is None for row in rows) and bool(rows)
               for i in range(len(columns))]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str], align_numbers: bool) -> str:
        parts = [v.rjust(w) if align_numbers and num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    out = [line(columns, False), "-+-".join("-" * w for w in widths)]
    out += [line(r, True) for r in cells]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out) + "\n"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)
