"""monitor.lines.bounded_lines and chunks: a file's lines are read with a bound, whatever their length,
and file batches close by bytes as the daemon's do (issue 13, item 2: `monitor ingest`, `backtest --input`,
`monitor classify`)."""

from __future__ import annotations

import io
import tracemalloc

from monitor.lines import bounded_lines, chunks


class _Counting(io.BytesIO):
    """Records the largest single read, to show an over-long line is never read whole."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line


def test_an_over_long_line_is_cut_and_skipped_and_the_next_lines_keep_their_numbers() -> None:
    data = b'{"a": 1}\n' + b"x" * 5_000_000 + b"\r\n" + b'{"b": 2}\n\n' + b"y" * 101 + b"\n" + b"z" * 100
    f = _Counting(data)
    lines = list(bounded_lines(f, 100))
    assert [(n, size) for n, _, size in lines] == [(1, 8), (2, 5_000_000), (3, 8), (4, 0), (5, 101), (6, 100)]
    assert lines[0][1] == b'{"a": 1}' and lines[2][1] == b'{"b": 2}' and lines[3][1] == b""
    assert lines[1][1] == b"x" * 101 and lines[4][1] == b"y" * 101  # cut to max + 1: "too large" for decode
    assert lines[5][1] == b"z" * 100  # exactly the limit, no newline at the end: kept whole
    assert f.largest <= 1 << 16


def test_a_file_with_no_newline_at_all_costs_no_memory() -> None:
    f = io.BytesIO(b"\0" * 50_000_000)
    tracemalloc.start()
    try:
        lines = list(bounded_lines(f, 1_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(n, len(line), size) for n, line, size in lines] == [(1, 1_001, 50_000_000)]
    assert peak < 5_000_000


def test_chunks_close_at_a_count_or_at_a_byte_budget() -> None:
    items = [b"a" * 10] * 7
    assert [len(c) for c in chunks(items, 3)] == [3, 3, 1]
    assert [len(c) for c in chunks(items, 100, max_bytes=25, size_of=len)] == [3, 3, 1]
    assert [len(c) for c in chunks([b"x" * 1000, b"y"], 100, max_bytes=25, size_of=len)] == [1, 1]
