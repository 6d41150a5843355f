"""Operations endpoints: /healthz (JSON readiness) and /metrics (Prometheus text).

Two read-only endpoints need no web framework, but they face whatever can reach the port, so every resource is
bounded (issue 13): one asyncio loop on a daemon thread reads requests (an unfinished request costs a socket,
not a thread), each connection gets READ_TIMEOUT_S to send at most MAX_REQUEST_BYTES of request line and
headers, at most `max_connections` are open at once (a new one evicts the oldest still-unfinished request, or is
answered 503 at once when all are being served), and the answers are computed on a small thread pool. The
database probe behind /healthz runs with a deadline, one at a time, its result cached (BoundedProbe).
Clients that vanish mid-answer cost one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor import metrics  # noqa: F401 - registers every metric, labelled ones at 0, before the first scrape

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, dict[str, Any]]]

READ_TIMEOUT_S = 5.0  # to send the request line and headers; a probe sends them in one packet
WRITE_TIMEOUT_S = 5.0  # for a client to take the answer
MAX_REQUEST_BYTES = 8192  # request line + headers (nginx's default large_client_header_buffers is 8 KB)
WORKERS = 4  # threads computing answers: /healthz waits at most HEALTH_DEADLINE_S, /metrics takes milliseconds
MAX_CONNECTIONS = 64
HEALTH_DEADLINE_S = 1.5  # /healthz answers within 2 s even when the database hangs
CAP_WARNING_EVERY_S = 60.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def default_max_connections() -> int:
    """MAX_CONNECTIONS, but at most an eighth of the file limit: the endpoints must never take the descriptors
    the daemon needs for its database and broker connections."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, soft // 8))


class OpsServer:
    def __init__(self, host: str, port: int, health: Health, *, max_connections: int | None = None,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        # Bound here, not in the thread: a taken port is an OSError for the caller (app.start_ops_server).
        self._sock = socket.create_server((host, port), backlog=128)
        self._health = health
        self.max_connections = max_connections or default_max_connections()
        self.read_timeout_s = read_timeout_s
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_log_loop_error)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="ops-http-worker")
        self._reading: OrderedDict[asyncio.StreamWriter, None] = OrderedDict()  # oldest first
        self._open = 0
        self._cap_warned_at = -CAP_WARNING_EVERY_S
        self._server: asyncio.AbstractServer | None = None
        self.thread = threading.Thread(target=self._run, name="ops-http", daemon=True)
        self._started = threading.Event()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self) -> OpsServer:
        self.thread.start()
        self._started.wait(10)
        host, port = self._sock.getsockname()[:2]
        log.info("ops endpoints on http://%s:%d/healthz and /metrics", host, port)
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self.thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(OSError):
            self._sock.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self._sock, limit=MAX_REQUEST_BYTES,
                                 backlog=min(128, self.max_connections)))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._reading):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    # ------------------------------------------------------------------ one connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            return
        self._open += 1
        peer = _peer(writer)
        try:
            status, body, content_type, head_only = await self._answer(reader, writer)
            if status == 0:
                return  # nothing to answer: the client left, or was evicted
            _write(writer, status, body, content_type, head_only)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
        except (ConnectionError, OSError) as e:  # reset, broken pipe: the client's business, one line
            log.info("ops http: client %s went away: %s", peer, type(e).__name__)
        except TimeoutError:
            log.info("ops http: client %s took no answer within %.0f s", peer, WRITE_TIMEOUT_S)
        finally:
            self._open -= 1
            self._reading.pop(writer, None)
            writer.transport.abort()  # no keep-alive: each connection carries one request

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        """Make room for a new connection: close the oldest one still sending its request, or, when every open
        connection is being answered, answer this one 503 at once. Open connections never exceed the cap."""
        if self._open < self.max_connections:
            return True
        now = time.monotonic()
        if now - self._cap_warned_at >= CAP_WARNING_EVERY_S:
            self._cap_warned_at = now
            log.warning("ops http: %d connections open (the cap); closing the oldest unfinished requests",
                        self._open)
        if self._reading:
            # Its _serve sees EOF and ends (and counts itself out) on the loop's next turn; the socket is closed
            # then too, so descriptors exceed the cap by at most one accept batch (the listen backlog).
            oldest, _ = self._reading.popitem(last=False)
            oldest.transport.abort()
            return True
        _write(writer, 503, b'{"error": "busy"}', "application/json", False)
        writer.transport.close()
        return False

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> tuple[int, bytes, str, bool]:
        self._reading[writer] = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout_s)
        except (asyncio.LimitOverrunError, ValueError):
            return 431, b'{"error": "request line and headers too large"}', "application/json", False
        except TimeoutError:
            log.debug("ops http: client %s sent no complete request within %.0f s", _peer(writer),
                      self.read_timeout_s)
            return 408, b'{"error": "request timeout"}', "application/json", False
        except asyncio.IncompleteReadError:
            return 0, b"", "", False
        finally:
            self._reading.pop(writer, None)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, b'{"error": "bad request line"}', "application/json", False
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, b'{"error": "GET or HEAD"}', "application/json", False
        loop = asyncio.get_running_loop()
        if target == "/metrics":
            body = await loop.run_in_executor(self._pool, generate_latest)
            return 200, body, CONTENT_TYPE_LATEST, method == "HEAD"
        if target in ("/healthz", "/health"):
            ready, doc = await loop.run_in_executor(self._pool, self._health)
            return 200 if ready else 503, json.dumps(doc).encode(), "application/json", method == "HEAD"
        return 404, b'{"error": "not found"}', "application/json", method == "HEAD"


def _write(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, head_only: bool) -> None:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n")
    writer.write(head.encode("latin-1") + (b"" if head_only else body))


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # asyncio's default handler logs a traceback (e.g. accept() out of file descriptors): one line instead.
    exc = context.get("exception")
    log.warning("ops http: %s%s", context.get("message", "error"), f" ({type(exc).__name__}: {exc})" if exc else "")


# ---------------------------------------------------------------------------- health


class BoundedProbe:
    """Runs `probe` (e.g. a database round trip) on its own thread, at most one at a time, and waits at most
    `deadline_s` for it. A probe still running after the deadline is not started again: later calls wait on
    the same one, so a hung database costs one stuck thread, not one per request. A result younger than
    `fresh_s` is reused (a burst of probes costs one round trip)."""

    def __init__(self, probe: Callable[[], None], deadline_s: float = HEALTH_DEADLINE_S, fresh_s: float = 1.0) -> None:
        self._probe = probe
        self.deadline_s = deadline_s
        self.fresh_s = fresh_s
        self._lock = threading.Lock()
        self._done: threading.Event | None = None  # set while a probe runs
        self._result: tuple[float, str] | None = None  # (monotonic time, "ok" | "unreachable")

    def __call__(self) -> str:
        """'ok', 'unreachable' (the probe failed) or 'timeout' (no answer within the deadline)."""
        with self._lock:
            if self._result is not None and time.monotonic() - self._result[0] < self.fresh_s:
                return self._result[1]
            if self._done is None:
                self._done = threading.Event()
                threading.Thread(target=self._run, args=(self._done,), name="health-probe", daemon=True).start()
            done = self._done
        if done.wait(self.deadline_s):
            with self._lock:
                return self._result[1] if self._result is not None else "unreachable"
        return "timeout"

    def _run(self, done: threading.Event) -> None:
        try:
            self._probe()
            outcome = "ok"
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable" here
            log.debug("health probe failed: %s", type(e).__name__)
            outcome = "unreachable"
        with self._lock:
            self._result = (time.monotonic(), outcome)
            self._done = None
        done.set()


def daemon_health(daemon: Any, database_ping: Callable[[], None], detection: Callable[[], dict[str, Any]],
                  deadline_s: float = HEALTH_DEADLINE_S) -> Health:
    """Ready = the database answers (within deadline_s) and the consumer holds an assignment."""
    probe = BoundedProbe(database_ping, deadline_s)

    def health() -> tuple[bool, dict[str, Any]]:
        database = probe()
        db_ok = database == "ok"
        source = daemon.source
        assignment = [f"{t}:{p}" for t, p in source.assignment()] if source is not None else []
        last = daemon.stats.last_batch_at
        body = {
            # "unreachable" for any failure, as before; "timeout": no answer within the deadline (a hung server)
            "database": database,
            "assignment": assignment,
            "last_batch_age_seconds": None if last is None else round(time.time() - last, 1),
            "articles_stored": daemon.stats.stored,
            "detection": detection(),
        }
        ready = db_ok and bool(assignment) and not daemon.stopping.is_set()
        body["status"] = "ready" if ready else "not ready"
        return ready, body

    return health
