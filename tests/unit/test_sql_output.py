"""`monitor sql` output (monitor.sql_output): control characters never printed raw in table or CSV output,
JSON that is valid and keeps every column, JSON lines."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from monitor.sql_output import escape_controls, format_table, json_keys, write_result

# Every class the terminal must not get raw: C0 (incl. ESC, BEL, BS, CR, LF, TAB, NUL), DEL, C1 (incl. CSI),
# line/paragraph separators, bidi embeddings/overrides/isolates and marks.
UNSAFE = (["\x00", "\x07", "\x08", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x85",
           "\x9b", "\x9f", "\u2028", "\u2029", "\u061c", "\u200e", "\u200f"]
          + [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)])
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HOSTILE = "Bank \x1b[2J\x1b]0;pwned\x07 halts\r\nwithdrawals \u202eevil\u202c \x9b31m\u2028end\x00"


def render(fmt: str, columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    write_result(out, columns, rows, fmt)
    return out.getvalue()


@pytest.mark.parametrize("char", UNSAFE)
@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_each_control_character_is_escaped(fmt: str, char: str) -> None:
    text = render(fmt, ["t" + char], [(f"a{char}b",)])
    body = text.replace("\n", "")  # the format's own line ends
    assert not RAW.search(body), repr(text)
    assert len(text.splitlines()) == (4 if fmt == "table" else 2)  # no value breaks a line


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("char", UNSAFE)
def test_json_escapes_them_too_and_round_trips(fmt: str, char: str) -> None:
    text = render(fmt, ["t"], [(f"a{char}b",)])
    assert not RAW.search(text.replace("\n", "")), repr(text)
    parsed = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert parsed == [{"t": f"a{char}b"}]


def test_escapes_are_readable() -> None:
    assert escape_controls("a\nb\tc\r\x1b[0m\x7f\x9b\u202e") == "a\\nb\\tc\\r\\x1b[0m\\x7f\\x9b\\u202e"
    assert escape_controls("plain é 中文 🙂 \\n") == "plain é 中文 🙂 \\n"  # printable text untouched


def test_hostile_title_in_every_format() -> None:
    rows = [(1, HOSTILE)]
    table = render("table", ["id", "title"], rows)
    assert "\\x1b[2J" in table and "\\u202e" in table and "\\r\\n" in table
    assert len(table.splitlines()) == 4
    as_csv = list(csv.reader(io.StringIO(render("csv", ["id", "title"], rows))))
    assert as_csv[1][1] == escape_controls(HOSTILE)
    assert json.loads(render("json", ["id", "title"], rows)) == [{"id": 1, "title": HOSTILE}]


def test_json_is_one_valid_document() -> None:
    assert render("json", ["a"], []) == "[]\n"
    text = render("json", ["a", "b"], [(1, "x"), (2, None)])
    assert json.loads(text) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]


def test_non_finite_numbers_become_null() -> None:
    row = (float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"),
           [1.5, float("nan")], {"x": float("inf")})
    columns = ["a", "b", "c", "d", "e", "f", "g", "h"]
    for fmt in ("json", "jsonl"):
        text = render(fmt, columns, [row])
        assert "NaN" not in text and "Infinity" not in text
        obj = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
        obj = obj[0] if fmt == "json" else obj
        assert obj == {"a": None, "b": None, "c": None, "d": None, "e": None, "f": None, "g": [1.5, None],
                       "h": {"x": None}}


def test_database_types_become_json() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    row = (Decimal("12"), Decimal("0.25"), Decimal("1e5000"), datetime(2026, 11, 20, 12, tzinfo=UTC),
           date(2026, 11, 20), time(9, 30), timedelta(minutes=90), b"\x00\xff", memoryview(b"ab"), u,
           [Decimal("1.5"), None], {"k": [1, "v"]}, True)
    columns = [f"c{i}" for i in range(len(row))]
    obj = json.loads(render("jsonl", columns, [row]))
    assert obj == {
        "c0": 12, "c1": 0.25, "c2": "1E+5000", "c3": "2026-11-20T12:00:00+00:00", "c4": "2026-11-20",
        "c5": "09:30:00", "c6": 5400.0, "c7": "\\x00ff", "c8": "\\x6162", "c9": str(u), "c10": [1.5, None],
        "c11": {"k": [1, "v"]}, "c12": True,
    }
    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in obj.values())


def test_duplicate_column_names_are_kept_apart() -> None:
    assert json_keys(["a", "a"]) == ["a", "a_2"]
    assert json_keys(["a", "a", "a_2", "a"]) == ["a", "a_3", "a_2", "a_4"]
    assert json_keys(["?column?", "?column?", "x"]) == ["?column?", "?column?_2", "x"]
    for fmt in ("json", "jsonl"):
        text = render(fmt, ["a", "a", "b", "a"], [(1, 2, 3, 4)])
        obj = json.loads(text)
        obj = obj[0] if fmt == "json" else obj
        assert obj == {"a": 1, "a_2": 2, "b": 3, "a_3": 4}
    # table and CSV are positional: the names stay as they are
    assert render("csv", ["a", "a"], [(1, 2)]) == "a,a\n1,2\n"
    assert format_table(["a", "a"], [(1, 2)]).splitlines()[0] == "a | a"


def test_jsonl_is_one_object_per_line() -> None:
    text = render("jsonl", ["id", "title"], [(1, "multi\nline"), (2, "x")])
    lines = text.splitlines()
    assert len(lines) == 2
    assert [json.loads(line) for line in lines] == [{"id": 1, "title": "multi\nline"}, {"id": 2, "title": "x"}]
