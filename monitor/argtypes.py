"""argparse value types shared by the commands: a bad value becomes argparse's one-line usage error."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_DURATION = timedelta(days=365 * 1000)
# Instants the commands accept: wide enough for any history, far enough from datetime's ends (years 1 and
# 9999) that subtracting a look-back (at most a year) or adding a step cannot overflow.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def block_list(value: str) -> tuple[int, ...]:
    """'0,3,5' -> (0, 3, 5): distinct block indices in increasing order."""
    try:
        blocks = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected block numbers like 0,3,5, got {value[:40]!r}") from None
    if any(b < 0 for b in blocks) or list(blocks) != sorted(set(blocks)):
        raise argparse.ArgumentTypeError(f"expected distinct increasing block numbers from 0, got {value[:40]!r}")
    return blocks


def _finite(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return x


def positive_float(value: str) -> float:
    x = _finite(value)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value!r}")
    return x


def unit_interval(value: str) -> float:
    """A weight between 0 and 1, both included."""
    x = _finite(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value!r}")
    return x


def duration(value: str) -> timedelta:
    """'365d', '12h', '2w', '90m' -> timedelta, at most MAX_DURATION (beyond it datetime arithmetic overflows,
    and no stored history is that old)."""
    match = _DURATION.match(value)
    if not match or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 365d, 12h, 2w or 90m, got {value!r}")
    count = int(match[1])
    if count > MAX_DURATION // _UNITS[match[2]]:
        raise argparse.ArgumentTypeError(f"at most {MAX_DURATION.days}d, got {value[:40]!r}")
    return count * _UNITS[match[2]]


def instant(value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC (news timestamps are, DESIGN §3). Returned in
    UTC, between EARLIEST and LATEST: outside that span a backtest's look-back or a step would overflow
    datetime (0001-01-01T00:00+05:00 is in year 0 in UTC), and PostgreSQL could not take it anyway."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.utcoffset() is None:
            parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date or time like 2026-11-01, got {value[:60]!r}") from None
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is in year 0 in UTC
        parsed = EARLIEST - timedelta(days=1)
    if not EARLIEST <= parsed <= LATEST:
        raise argparse.ArgumentTypeError(
            f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}, got {value[:60]!r}")
    return parsed


def whole_seconds(value: str) -> int:
    """A positive step in seconds, at most a year (a bigger step replays nothing useful)."""
    n = positive_int(value)
    if n > 366 * 86400:
        raise argparse.ArgumentTypeError(f"at most {366 * 86400} (a year), got {n}")
    return n
