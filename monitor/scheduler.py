"""The surge detection job inside `monitor run`: an APScheduler 3.x BackgroundScheduler (DESIGN §2: the only
apscheduler import). One run at a time (max_instances=1); runs missed while one was slow collapse into one
(coalesce=True). Several daemons on one PostgreSQL database are fine: the leader row lock in alerts.job makes
all but one skip each round."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from alerts.slack import Notifier
from monitor import alerting
from monitor.config import Settings

log = logging.getLogger(__name__)

JOB_ID = "surge-detection"


def start_detection(
    settings: Settings,
    database: object,
    *,
    notifier: Notifier | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackgroundScheduler:
    """Start the scheduler (first run right away); call `.shutdown()` on the result when stopping.
    `database` is monitor.app.Database."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        alerting.detect_and_deliver,
        "interval",
        seconds=settings.detect_interval_seconds,
        args=[database, alerting.thresholds(settings), notifier or alerting.make_notifier(settings), now],
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=max(1, settings.detect_interval_seconds),
    )
    scheduler.start()
    log.info("surge detection every %ds", settings.detect_interval_seconds)
    return scheduler


def detection_state(scheduler: BackgroundScheduler) -> dict[str, object]:
    """For /healthz: is the job scheduled, and when does it run next."""
    job = scheduler.get_job(JOB_ID) if scheduler.running else None
    if job is None:
        return {"state": "stopped"}
    next_run = job.next_run_time
    return {"state": "scheduled", "interval_seconds": job.trigger.interval.total_seconds(),
            "next_run": next_run.isoformat() if next_run else None}
