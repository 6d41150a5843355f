"""Alerting glue for the top floor: settings -> thresholds and notifier, the scheduled detect + deliver
step, and the demo's alert lines (`monitor backtest` is monitor/backtest_cmd.py). The decisions themselves
live in `alerts/`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from alerts.slack import ConsoleNotifier, DeliveryPolicy, DrainResult, Notifier, SlackNotifier, deliver_due, make_client
from alerts.surge import Thresholds
from monitor import metrics
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
