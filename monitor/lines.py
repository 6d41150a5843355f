"""Reading input in bounded pieces: a file's lines with a cap on what one line may hold, and items in lists of a
size. Apart from monitor.pipeline (which imports storage and SQLAlchemy) so that `monitor classify`, which
needs only these, starts without them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

T = TypeVar("T")

LINE_READ_BYTES = 1 << 16  # how much of an over-long line is read at a time while it is skipped


def bounded_lines(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """(line number, line without its end, the line's whole size) for every line of a binary file, holding
    at most ``max_bytes + 1`` bytes of a line: a longer line yields its first ``max_bytes + 1`` bytes (its
    size says how long it really was) and the rest is read past in small pieces. A 5 GB line costs no memory."""
    for number in itertools.count(1):
        line = f.readline(max_bytes + 1)
        if not line:
            return
        size = len(line)
        if size > max_bytes and not line.endswith(b"\n"):
            while rest := f.readline(LINE_READ_BYTES):
                size += len(rest)
                if rest.endswith(b"\n"):
                    break
            size -= 2 if rest.endswith(b"\r\n") else 1 if rest.endswith(b"\n") else 0
            yield number, line, size
        else:
            stripped = line.rstrip(b"\r\n")
            yield number, stripped, len(stripped)



def chunks(items: Iterable[T], size: int, max_bytes: int | None = None,
           size_of: Callable[[T], int] = lambda _: 0) -> Iterator[list[T]]:
    """Lists of at most ``size`` items and, with ``max_bytes``, closed once they hold that many bytes by
    ``size_of`` (so a file of ~1 MB lines is not read 256 at a time)."""
    chunk: list[T] = []
    held = 0
    for item in items:
        chunk.append(item)
        held += size_of(item)
        if len(chunk) == size or (max_bytes is not None and held >= max_bytes):
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk
