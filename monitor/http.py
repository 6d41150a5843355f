"""Operations endpoints: /healthz (JSON readiness) and /metrics (Prometheus text).

A stdlib ThreadingHTTPServer on a daemon thread: two read-only endpoints need no web framework.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor import metrics  # noqa: F401 - registers every metric, labelled ones at 0, before the first scrape

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, dict[str, Any]]]


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/health"):
                ready, body = health()
                self._send(200 if ready else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: probes every few s
            log.debug("http %s", format % args)

    return Handler


class OpsServer:
    def __init__(self, host: str, port: int, health: Health) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(health))
        self.thread = threading.Thread(target=self.server.serve_forever, name="ops-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> OpsServer:
        self.thread.start()
        log.info("ops endpoints on http://%s:%d/healthz and /metrics", *self.server.server_address[:2])
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def daemon_health(daemon: Any, database_ping: Callable[[], None], detection: Callable[[], dict[str, Any]]) -> Health:
    """Ready = the database answers and the consumer holds an assignment."""

    def health() -> tuple[bool, dict[str, Any]]:
        try:
            database_ping()
            db_ok = True
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable" here
            db_ok, _ = False, e
        source = daemon.source
        assignment = [f"{t}:{p}" for t, p in source.assignment()] if source is not None else []
        last = daemon.stats.last_batch_at
        body = {
            "database": "ok" if db_ok else "unreachable",
            "assignment": assignment,
            "last_batch_age_seconds": None if last is None else round(time.time() - last, 1),
            "articles_stored": daemon.stats.stored,
            "detection": detection(),
        }
        ready = db_ok and bool(assignment) and not daemon.stopping.is_set()
        body["status"] = "ready" if ready else "not ready"
        return ready, body

    return health
