"""How `monitor sql` prints a result: an aligned table, CSV, one JSON document, or JSON lines.

Safe to print: stored text comes from outside (scraped news), so control characters never reach the terminal
raw. Table and CSV show C0 controls, DEL, C1 controls, the Unicode line and paragraph separators and the
bidirectional overrides and isolates escaped (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``); a backslash already in
the text is left as it is (JSON and JSON lines are the lossless formats). JSON escapes the same characters
as ``\\uXXXX``, which parses back to the original text.

Safe to parse: ``json`` is one valid JSON array (``allow_nan=False``: NaN and ±Infinity become null) and
``jsonl`` one object per line. Duplicate column names (``select 1 as a, 2 as a``) are kept apart in JSON
objects: the second ``a`` becomes ``a_2`` (then ``a_3``, ...; a suffix already used by another column is
skipped), in column order. Table and CSV keep the names as they are: their columns are positional.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("table", "csv", "json", "jsonl")

# C0 (tab and newline included), DEL, C1, LINE/PARAGRAPH SEPARATOR, ALM, LRM/RLM, the bidi embeddings and
# overrides (U+202A-202E) and isolates (U+2066-2069).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What json.dumps(ensure_ascii=False) leaves raw (it escapes only C0): escaped as \uXXXX, still valid JSON.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """Text with every terminal-unsafe character shown as an escape."""
    return _UNSAFE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def write_result(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if columns:
            writer.writerow([escape_controls(c) for c in columns])
        writer.writerows([escape_controls(_text(v)) for v in row] for row in rows)
    elif fmt == "json":
        keys = json_keys(columns)
        objects = [_json_dumps(dict(zip(keys, (json_value(v) for v in row), strict=True))) for row in rows]
        out.write("[\n" + ",\n".join(objects) + "\n]\n" if objects else "[]\n")
    elif fmt == "jsonl":
        keys = json_keys(columns)
        for row in rows:
            out.write(_json_dumps(dict(zip(keys, (json_value(v) for v in row), strict=True))) + "\n")
    elif fmt == "table":
        out.write(format_table(columns, rows))
    else:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    out.flush()


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """psql-like: a header, a rule, one line per row (numbers right-aligned), then the row count."""
    if not columns:
        return "(no rows returned)\n"
    header = [escape_controls(c) for c in columns]
    # One line per row: a newline inside a value (a multi-line body) is shown as \n.
    cells = [[escape_controls(_text(v)) for v in row] for row in rows]
    numeric = [all(_is_number(row[i]) or row[i] is None for row in rows) and bool(rows)
               for i in range(len(columns))]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(header)]

    def line(values: Sequence[str], align_numbers: bool) -> str:
        parts = [v.rjust(w) if align_numbers and num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    out = [line(header, False), "-+-".join("-" * w for w in widths)]
    out += [line(r, True) for r in cells]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out) + "\n"


def json_keys(columns: Sequence[str]) -> list[str]:
    """Column names made unique for JSON objects: a repeated name gets _2, _3, ... (skipping names taken)."""
    taken = set(columns)
    seen: set[str] = set()
    keys = []
    for name in columns:
        key = name
        if key in seen:
            n = 2
            while f"{name}_{n}" in taken or f"{name}_{n}" in seen:
                n += 1
            key = f"{name}_{n}"
        seen.add(key)
        keys.append(key)
    return keys


def json_value(value: Any) -> Any:
    """A database value as plain JSON data: never NaN or Infinity (null), arrays and documents recursed."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value() and value.adjusted() < 4000:  # Python's int <-> str digit limit
            return int(value)
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)  # UUID, network addresses, ranges, ...


def _json_dumps(document: Any) -> str:
    text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(json_value(value), ensure_ascii=False, allow_nan=False)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)
