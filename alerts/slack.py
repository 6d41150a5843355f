"""Delivering outbox rows: to Slack through slack-sdk's WebClient, or to the log and console without a token.

Exactly once, as far as Slack lets us:
* a row is claimed ('sending', committed) before the call and marked 'sent' with Slack's ts after it, so a
  restart never re-sends a delivered row;
* a crash between Slack accepting and our commit leaves the row 'sending'; after a lease it is reclaimed,
  and before re-sending we look for its idempotency key in the channel's recent message metadata
  (``conversations.history``, ``include_all_metadata``): found means delivered, so nothing is posted twice;
* rate limits (Retry-After), 500/503 and dropped connections are retried inside the call by slack-sdk's
  retry handlers; what still fails goes back to 'pending' with exponential backoff (an outage loses nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy.orm import Session, sessionmaker

from alerts import message
from storage import alerts_repo as repo

log = logging.getLogger(__name__)

METADATA_EVENT = "news_monitor_alert"


@dataclass(frozen=True, slots=True)
class Delivered:
    channel: str
    ts: str


class Notifier(Protocol):
    def send(self, kind: str, payload: dict[str, Any], idempotency_key: str,
             thread: Delivered | None) -> Delivered: ...

    def find(self, idempotency_key: str, since: datetime, thread: Delivered | None) -> Delivered | None: ...


def make_client(token: str, base_url: str, *, max_retries: int = 3, timeout: int = 10) -> WebClient:
    """A WebClient that honours Retry-After on 429, and retries 500/503 and dropped connections."""
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries),
            ConnectionErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


class SlackNotifier:
    def __init__(self, client: WebClient, channel: str, *, chart: bool = True) -> None:
        self.client = client
        self.channel = channel
        self.chart = chart

    def send(self, kind: str, payload: dict[str, Any], idempotency_key: str,
             thread: Delivered | None) -> Delivered:
        response = self.client.chat_postMessage(
            channel=thread.channel if thread else self.channel,
            thread_ts=thread.ts if thread else None,
            text=message.slack_text(kind, payload),
            blocks=message.blocks(kind, payload),
            metadata={"event_type": METADATA_EVENT, "event_payload": {"idempotency_key": idempotency_key}},
            # Article data cannot steer Slack (alerts.message escapes it); never link_names, no previews.
            unfurl_links=False,
            unfurl_media=False,
        )
        delivered = Delivered(str(response.get("channel") or self.channel), str(response["ts"]))
        if kind == "fire" and self.chart and payload.get("series"):
            self._upload_chart(payload, delivered)
        return delivered

    def _upload_chart(self, payload: dict[str, Any], where: Delivered) -> None:
        # The message is already delivered: a chart that fails must not make the outbox post it again.
        from alerts.chart import render_chart

        try:
            png = render_chart(payload["series"], payload["baseline"], message.chart_title(payload))
            self.client.files_upload_v2(
                channel=where.channel, thread_ts=where.ts, content=png, filename="negative-share-24h.png",
                title=message.plain(f"Negative share vs baseline: {message.subject(payload)}", 250),
            )
        except (SlackClientError, OSError, ValueError) as e:
            log.warning("alert chart upload failed (the alert itself was delivered): %s", e)

    def find(self, idempotency_key: str, since: datetime, thread: Delivered | None) -> Delivered | None:
        """Our message with this key, if Slack already has it (a claimer died after posting)."""
        channel = thread.channel if thread else self.channel
        oldest = f"{since.timestamp():.6f}"
        if thread:
            response = self.client.conversations_replies(channel=channel, ts=thread.ts, oldest=oldest,
                                                         include_all_metadata=True, limit=200)
        else:
            response = self.client.conversations_history(channel=channel, oldest=oldest,
                                                         include_all_metadata=True, limit=200)
        for m in response.get("messages") or []:
            meta = m.get("metadata") or {}
            if (meta.get("event_type") == METADATA_EVENT
                    and (meta.get("event_payload") or {}).get("idempotency_key") == idempotency_key):
                return Delivered(str(response.get("channel") or channel), str(m["ts"]))
        return None


class ConsoleNotifier:
    """No token: the alert goes to the log and the console, and counts as delivered."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self.write = write
        self.sent = 0

    def send(self, kind: str, payload: dict[str, Any], idempotency_key: str,
             thread: Delivered | None) -> Delivered:
        text = message.console_text(kind, payload)
        log.warning("ALERT (no Slack token configured) %s", text.splitlines()[0])
        self.write(text)
        self.sent += 1
        return Delivered("console", f"console-{idempotency_key}")

    def find(self, idempotency_key: str, since: datetime, thread: Delivered | None) -> Delivered | None:
        return None


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0  # replies whose thread does not exist yet
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    batch: int = 20
    lease: timedelta = timedelta(minutes=2)  # a 'sending' row older than this: its claimer died
    first_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=10)
    max_attempts: int = 50  # about 7 hours at the cap, then 'failed' (kept, visible, never dropped)

    def backoff(self, attempts: int) -> timedelta:
        return min(self.max_backoff, self.first_backoff * (2 ** max(0, attempts - 1)))


def deliver_due(
    sessions: sessionmaker[Session], notifier: Notifier, now: datetime, policy: DeliveryPolicy = DeliveryPolicy()
) -> DrainResult:
    """Send what is due in the outbox. Each row: claim (commit), call Slack, record the outcome (commit)."""
    result = DrainResult()
    with sessions.begin() as session:
        if not repo.try_lock(session, repo.DELIVERY_LOCK_ID):
            return result
        rows = repo.claim_due(session, now, policy.batch, policy.lease)
    for i, row in enumerate(rows):
        if not _deliver(sessions, notifier, row, now, policy, result):
            # Slack is failing: hand the rest back for the same backoff instead of hammering it now.
            rest = rows[i + 1 :]
            if rest:
                with sessions.begin() as session:
                    for other in rest:
                        repo.mark_retry(session, other.id, "deferred: an earlier delivery failed",
                                        now + policy.backoff(other.attempts + 1), give_up=False)
                result.retried += len(rest)
            break
    return result


def _deliver(sessions: sessionmaker[Session], notifier: Notifier, row: repo.OutboxRecord, now: datetime,
             policy: DeliveryPolicy, result: DrainResult) -> bool:
    """False if Slack failed (the row is back in the queue with a backoff)."""
    thread: Delivered | None = None
    if row.kind != "fire":
        with sessions() as session:
            alert = repo.get_alert(session, row.alert_id)
        if alert is None or alert.slack_ts is None or alert.slack_channel is None:
            # The first message is not out yet: wait for it, without spending an attempt.
            with sessions.begin() as session:
                repo.mark_retry(session, row.id, "waiting for the alert's first message", now + policy.first_backoff,
                                give_up=False)
            result.waiting += 1
            return True
        thread = Delivered(alert.slack_channel, alert.slack_ts)
    try:
        delivered = None
        if row.status == "sending" and row.claimed_at is not None:  # reclaimed: did the last try get through?
            delivered = notifier.find(row.idempotency_key, row.claimed_at - timedelta(minutes=1), thread)
            if delivered:
                log.info("outbox %s was delivered before a restart; not sending it again", row.idempotency_key)
        if delivered is None:
            delivered = notifier.send(row.kind, row.payload, row.idempotency_key, thread)
    except (SlackClientError, OSError) as e:
        error = _describe(e)
        attempts = row.attempts + 1
        give_up = attempts >= policy.max_attempts
        with sessions.begin() as session:
            repo.mark_retry(session, row.id, error, now + policy.backoff(attempts), give_up=give_up)
        log.warning("alert delivery %s failed (attempt %d%s): %s", row.idempotency_key, attempts,
                    ", giving up" if give_up else ", will retry", error)
        result.failed += give_up
        result.retried += not give_up
        result.errors.append(error)
        return False
    with sessions.begin() as session:
        repo.mark_sent(session, row.id, delivered.ts, now)
        if row.kind == "fire":
            repo.update_alert(session, row.alert_id, slack_channel=delivered.channel, slack_ts=delivered.ts)
    result.sent += 1
    return True


def _describe(e: BaseException) -> str:
    if isinstance(e, SlackApiError):
        status = getattr(e.response, "status_code", "?")
        error = e.response.get("error") if hasattr(e.response, "get") else None
        return f"Slack API error {status}: {error or 'no error field'}"
    return f"{type(e).__name__}: {e}"[:300]
