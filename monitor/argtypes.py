"""argparse value types shared by the commands: a bad value becomes argparse's one-line usage error."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


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
    """'365d', '12h', '2w', '90m' -> timedelta."""
    match = _DURATION.match(value)
    if not match or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 365d, 12h, 2w or 90m, got {value!r}")
    return int(match[1]) * _UNITS[match[2]]


def instant(value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC (news timestamps are, DESIGN §3)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date or time like 2026-11-01, got {value!r}") from None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)
