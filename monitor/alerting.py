"""Alerting glue for the top floor: settings -> thresholds and notifier, the scheduled detect + deliver
step, `monitor backtest`, and the demo's alert lines. The decisions themselves live in `alerts/`."""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.slack import ConsoleNotifier, DeliveryPolicy, DrainResult, Notifier, SlackNotifier, deliver_due, make_client
from alerts.surge import Thresholds
from monitor import metrics
from monitor.argtypes import instant, whole_seconds
from monitor.config import Settings

log = logging.getLogger(__name__)
DEFAULT_POLICY = DeliveryPolicy()


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        window=timedelta(minutes=settings.alert_window_minutes),
        alpha=settings.alert_alpha,
        min_stories=settings.alert_min_stories,
        min_negative=settings.alert_min_negative,
        min_odds_ratio=settings.alert_min_odds_ratio,
        resolve_odds_ratio=min(settings.alert_resolve_odds_ratio, settings.alert_min_odds_ratio),
        resolve_p_value=settings.alert_resolve_p_value,
        repeat_interval=timedelta(minutes=settings.alert_repeat_interval_minutes),
        seasonal_weeks=settings.alert_seasonal_weeks,
        correction=settings.alert_correction,
        weigh_scopes=settings.alert_weigh_scopes,
        pool_strength=settings.alert_pool_strength,
        volume_strength=settings.alert_volume_strength,
        burst_prior=settings.alert_burst_prior,
    )


def alert_destination(settings: Settings) -> str:
    """Where alerts go, for the startup log: channel and API host, never the token."""
    if settings.slack_token is None:
        return ("the log and the console only: no Slack token (set MONITOR_SLACK_TOKEN or "
                "MONITOR_SLACK_TOKEN_FILE to post to Slack)")
    host = urlsplit(settings.slack_base_url).hostname or "?"
    return f"Slack channel {settings.slack_channel} via {host}"


def make_notifier(settings: Settings, write: Callable[[str], None] = print) -> Notifier:
    """Slack when a token is configured; otherwise the log and the console (said at startup, loudly)."""
    destination = alert_destination(settings)
    if settings.slack_token is None:
        log.warning("surge alerts go to %s", destination)
        return ConsoleNotifier(write)
    log.info("surge alerts go to %s", destination)
    client = make_client(settings.slack_token.get_secret_value(), settings.slack_base_url)
    return SlackNotifier(client, settings.slack_channel)


def detect_and_deliver(
    database: Any, t: Thresholds, notifier: Notifier, now: Callable[[], datetime] = lambda: datetime.now(UTC),
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> DrainResult | None:
    """One scheduled step: a detection run (one transaction, under the job_leaders row lock), then the outbox.
    `database` is monitor.app.Database. Errors are logged, not raised: the next run tries again."""
    from alerts.job import run_detection
    from storage.db import is_transient

    try:
        with database.sessions.begin() as session:
            result = run_detection(session, now(), t)
        metrics.DETECTION_RUNS.labels("ran" if result.ran else "skipped_locked").inc()
        if result.ran and result.decisions:
            log.info("surge detection: %d fired, %d resolved, %d repeated", result.count("fire"),
                     result.count("resolve"), result.count("repeat"))
            for surge, decision in result.decisions:
                if decision.action == "fire":
                    metrics.ALERTS_FIRED.labels(surge.scope).inc()
        drained = deliver_due(database.sessions, notifier, now(), policy)
        for outcome in metrics.DELIVERY_OUTCOMES:
            metrics.ALERT_DELIVERIES.labels(outcome).inc(getattr(drained, outcome))
        return drained
    except Exception as e:
        if is_transient(e):
            metrics.DETECTION_RUNS.labels("database_unavailable").inc()
            log.warning("surge detection skipped: database unavailable (%s)", str(e).splitlines()[0][:200])
            return None
        metrics.DETECTION_RUNS.labels("error").inc()
        log.exception("surge detection failed")
        return None


def demo_alert_lines(database: Any, now: datetime, settings: Settings | None = None) -> list[str]:
    """For `monitor demo`: run detection at `now` and deliver to the console; returns what it printed
    (empty: nothing surged). `settings` only supplies the thresholds (default: the built-in ones)."""
    lines: list[str] = []
    t = thresholds(settings) if settings is not None else Thresholds()
    detect_and_deliver(database, t, ConsoleNotifier(lines.append), lambda: now)
    return lines


# --------------------------------------------------------------------------- monitor backtest


def add_backtest_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "backtest", help="replay surge detection over stored history; one JSON line per alert event",
    )
    p.add_argument("--input", type=Path, help="replay this JSON-lines file alone (through the normal pipeline, into a "
                   "throwaway database on the embedded server; with MONITOR_DATABASE_URL set, into that database)")
    p.add_argument("--since", type=instant, help="ISO 8601 (default: the start of the stored history)")
    p.add_argument("--until", type=instant, help="ISO 8601 (default: the end of the stored history)")
    p.add_argument("--step-seconds", type=whole_seconds, default=None,
                   help="detection interval in event time (default: MONITOR_DETECT_INTERVAL_SECONDS)")
    p.set_defaults(fn=cmd_backtest)
    return p


def cmd_backtest(args: argparse.Namespace) -> int:
    from monitor.config import load_settings
    from monitor.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    return run_backtest(settings, args.input, args.since, args.until, args.step_seconds)


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
        database = app.open_database(settings)
        return _replay(settings, database, input_file, since, until, step_seconds, classify, out, err)
    # --input on the embedded server: a throwaway database, dropped afterwards, so the replay sees the file only
    # and the monitor's own history is untouched.
    from storage.embedded import drop

    throwaway = app.embedded_database(settings, f"monitor_backtest_{secrets.token_hex(6)}")
    try:
        database = app.open_database(throwaway, migrate=True)
        try:
            return _replay(throwaway, database, input_file, since, until, step_seconds, classify, out, err)
        finally:
            database.engine.dispose()
    finally:
        drop(app.database_url(throwaway))


def _replay(
    settings: Settings, database: Any, input_file: Path | None, since: datetime | None, until: datetime | None,
    step_seconds: int | None, classify: Any, out: Any, err: Any,
) -> int:
    from alerts.backtest import replay
    from monitor import app
    from storage import alerts_repo

    if input_file is not None:
        if classify is None:
            classify = app.classify_fn(app.load_classifier(settings), settings.model_batch_size)
        pipeline = app.make_pipeline(settings, classify, database)
        stored = 0
        for result in app.ingest_file(settings, pipeline, input_file):
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
