"""`monitor backtest`: replay surge detection in event time over the stored history (or a JSON-lines file sent
through the product's own pipeline first) and print one JSON line per alert event."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.argtypes import instant, whole_seconds
from monitor.config import Settings

if TYPE_CHECKING:
    from monitor.app import Product



def add_backtest_parser(subparsers: Any, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Register `backtest`; ``settings_of(args)`` is cli's settings loader."""
    p = subparsers.add_parser(
        "backtest", help="replay surge detection over stored history; one JSON line per alert event",
    )
    p.add_argument("--input", type=Path, help="replay this JSON-lines file alone (through the normal pipeline, into a "
                   "throwaway database on the embedded server; with MONITOR_DATABASE_URL set, into that database)")
    p.add_argument("--since", type=instant, help="ISO 8601 (default: the start of the stored history)")
    p.add_argument("--until", type=instant, help="ISO 8601 (default: the end of the stored history)")
    p.add_argument("--step-seconds", type=whole_seconds, default=None,
                   help="detection interval in event time (default: MONITOR_DETECT_INTERVAL_SECONDS)")
    p.set_defaults(fn=lambda args: run_backtest(settings_of(args), args.input, args.since, args.until,
                                                args.step_seconds))


def run_backtest(
    settings: Settings, input_file: Path | None, since: datetime | None, until: datetime | None,
    step_seconds: int | None, *, classify: Any = None, out: Any = None, err: Any = None,
) -> int:
    """`classify` overrides the model for --input (tests); out/err default to stdout/stderr. With
    MONITOR_DATABASE_URL set, --input is stored in that database, as `monitor ingest` would."""
    from monitor import app

    if since is not None and until is not None and until <= since:
        raise ValueError(f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})")
    out = out or sys.stdout
    err = err or sys.stderr
    if input_file is not None and not input_file.is_file():
        raise FileNotFoundError(f"no such file: {input_file}")
    if input_file is None or settings.database_url is not None:
        return _replay(app.build(settings, classify=classify), input_file, since, until, step_seconds, out, err)
    # --input on the embedded server: a throwaway database, dropped afterwards, so the replay sees the file only
    # and the monitor's own history is untouched.
    from storage.embedded import drop

    throwaway = app.embedded_database(settings, f"monitor_backtest_{secrets.token_hex(6)}")
    try:
        product = app.build(throwaway, classify=classify, migrate=True)
        try:
            return _replay(product, input_file, since, until, step_seconds, out, err)
        finally:
            product.close()
    finally:
        drop(app.database_url(throwaway))


def _replay(
    product: Product, input_file: Path | None, since: datetime | None, until: datetime | None,
    step_seconds: int | None, out: Any, err: Any,
) -> int:
    from alerts.backtest import replay
    from monitor.alerting import thresholds  # here, not at the top: alerts/slack-sdk cost every command 0.3-0.5 s
    from storage import alerts_repo

    settings, database = product.settings, product.database
    if input_file is not None:
        stored = 0
        for result in product.ingest(input_file):
            stored += result.stored
        print(f"ingested {stored} new articles from {input_file}", file=err)
    first, last = database.read(alerts_repo.published_range)
    if first is None or last is None:
        print("backtest: no stored articles", file=err)
        return 0
    t = thresholds(settings)
    # A replay never runs over empty time: before the first stored article (less the look-back) and after
    # the last (plus a window, for the resolves) no alert can change, and `--since 0001-01-01` with a one-minute
    # step would otherwise loop for a billion steps.
    since = max(since or first, _shift(first, -t.window))
    until = min(until or _shift(last, timedelta(seconds=1)), _shift(last, t.window + timedelta(seconds=1)))
    step_s = step_seconds if step_seconds is not None else settings.detect_interval_seconds
    if step_s < 1:  # run_backtest is also called from code: the CLI's argparse type only guards the command
        raise ValueError(f"--step-seconds must be at least 1, got {step_s}")
    step = timedelta(seconds=step_s)
    spans = [(_shift(since, -t.lookback), until)]
    stories = database.read(lambda s: alerts_repo.load_stories(s, spans))
    fired = resolved = 0
    keys: set[tuple[str, str]] = set()
    for event in replay(stories, since, until, t, step):
        out.write(json.dumps(event.json()) + "\n")
        fired += event.event == "fire"
        resolved += event.event == "resolve"
        keys.add((event.scope, event.key))
    out.flush()
    print(json.dumps({"summary": {"since": since.isoformat(), "until": until.isoformat(),
                                  "step_seconds": step.total_seconds(), "stories": len(stories), "fired": fired,
                                  "resolved": resolved, "keys": len(keys)}}), file=err)
    return 0


def _shift(at: datetime, by: timedelta) -> datetime:
    """at + by, clamped to datetime's range: stored timestamps may sit near year 1 or 9999."""
    try:
        return at + by
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if by < timedelta(0) else datetime.max.replace(tzinfo=UTC)
