"""One detection run: read history -> decide -> write alerts and outbox rows, in the caller's transaction.

The caller owns the transaction (``with sessions.begin() as session: run_detection(session, now, t)``):
alerts and their notifications commit together or not at all. On PostgreSQL a row lock on the job's row of
``job_leaders`` (not an advisory lock: readers could hold that) makes concurrent runs (several daemons on one
database) skip instead of deciding twice; the unique indexes on ``alerts`` and ``alert_outbox`` back it up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerts.detect import detect, needed_ranges
from alerts.history import History, Key, keys_of
from alerts.policy import RULE, Decision, decide, fired
from alerts.surge import HOUR, Surge, Thresholds, hour_floor
from storage import alerts_repo as repo
from storage.alerts_repo import Alert, Story

log = logging.getLogger(__name__)

TOP_HEADLINES = 5
CHART_HOURS = 24
SKIPS_BEFORE_WARNING = 3  # in a row; with several daemons an occasional skip is normal, a streak is not


class _SkipStreak:
    """Detection runs of this process skipped in a row because another session held the job's lock."""

    count = 0


@dataclass
class RunResult:
    ran: bool  # False: another runner held the lock
    surges: list[Surge] = field(default_factory=list)
    decisions: list[tuple[Surge, Decision]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for _, d in self.decisions if d.action == action)


def load_history(session: Session, now: datetime, t: Thresholds) -> History:
    return History.of(repo.load_stories(session, needed_ranges(now, t)))


def run_detection(session: Session, now: datetime, t: Thresholds, *, rule: str = RULE) -> RunResult:
    if not repo.try_lock(session):
        _SkipStreak.count += 1
        if _SkipStreak.count >= SKIPS_BEFORE_WARNING:
            # Visible: a session that holds the job's row lock for long stops alerting database-wide.
            log.warning("surge detection skipped %d times in a row: another session holds the lock (row "
                        "%r of job_leaders; see pg_locks and pg_stat_activity)", _SkipStreak.count,
                        repo.DETECTION_LOCK_ID)
        else:
            log.info("surge detection: another runner holds the lock; skipping")
        return RunResult(ran=False)
    _SkipStreak.count = 0
    open_alerts = {(a.scope, a.key): a for a in repo.alerts(session, rule, open_only=True)}
    history = load_history(session, now, t)
    surges = detect(history, now, t, also=open_alerts)
    result = RunResult(ran=True, surges=surges)
    for surge in surges:
        key: Key = (surge.scope, surge.key)
        decision = decide(open_alerts.get(key), surge, now, t)
        if decision.action != "none":
            apply(session, rule, surge, decision, open_alerts.get(key), history, now)
            result.decisions.append((surge, decision))
            log.info("alert %s %s/%s: %s", decision.action, surge.scope, surge.key, decision.reason)
    return result


def apply(
    session: Session, rule: str, surge: Surge, decision: Decision, alert: Alert | None, history: History,
    now: datetime,
) -> None:
    payload = surge_payload(rule, surge, history, now)
    if decision.action == "fire":
        alert_id = repo.insert_alert(session, fired(rule, surge, now))
        if alert_id is None:  # already recorded (a restart re-deciding the same window): never twice
            return
        repo.enqueue(session, alert_id=alert_id, kind="fire", idempotency_key=f"{alert_id}:fire",
                     payload=payload, now=now)
    elif decision.action == "repeat" and alert is not None:
        repo.update_alert(session, alert.id, last_notified_at=now)
        repo.enqueue(session, alert_id=alert.id, kind="repeat",
                     idempotency_key=f"{alert.id}:repeat:{now.isoformat()}", payload=payload, now=now)
    elif decision.action == "resolve" and alert is not None:
        if repo.update_alert(session, alert.id, open_only=True, resolved_at=now, resolved_negative=surge.negative,
                             resolved_total=surge.total):
            payload["fired_at"] = alert.fired_at.isoformat()
            repo.enqueue(session, alert_id=alert.id, kind="resolve", idempotency_key=f"{alert.id}:resolve",
                         payload=payload, now=now)


def surge_payload(rule: str, surge: Surge, history: History, now: datetime) -> dict[str, Any]:
    """Everything the notification shows, as JSON: the outbox renders it later, even after a restart."""
    key: Key = (surge.scope, surge.key)
    return {
        "rule": rule,
        "scope": surge.scope,
        "key": surge.key,
        "at": now.isoformat(),
        "window_start": surge.window_start.isoformat(),
        "window_end": surge.window_end.isoformat(),
        "negative": surge.negative,
        "total": surge.total,
        "share": round(surge.share, 4),
        "baseline": round(surge.baseline.share, 4),
        "baseline_how": surge.baseline.how,
        "expected_negative": round(surge.expected_negative, 1),
        "odds_ratio": round(surge.odds_ratio, 2),
        "p_value": surge.p_value,
        "p_adjusted": surge.p_adjusted,
        "headlines": top_headlines(history.between(surge.window_start, surge.window_end), key),
        "series": hourly_series(history, key, now),
    }


def top_headlines(stories: Iterable[Story], key: Key, limit: int = TOP_HEADLINES) -> list[dict[str, Any]]:
    negative = [s for s in stories if s.negative and key in set(keys_of(s))]
    negative.sort(key=lambda s: (-s.p_negative, s.published_at))
    return [
        {"title": s.title, "url": s.url, "source": s.source, "highlights": list(s.highlights),
         "p_negative": round(s.p_negative, 3), "published_at": s.published_at.isoformat()}
        for s in negative[:limit]
    ]


def hourly_series(history: History, key: Key, now: datetime, hours: int = CHART_HOURS) -> list[dict[str, Any]]:
    """Negative share per clock hour over the last `hours` (the last one partial), for the chart."""
    last = hour_floor(now)
    out = []
    for i in range(hours - 1, -1, -1):
        h = last - i * HOUR
        c = history.hour_counts(h, key)
        out.append({"hour": h.isoformat(), "total": c.total, "negative": c.negative,
                    "share": round(c.share, 4) if c.total else None})
    return out
