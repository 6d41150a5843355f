"""A Slack-compatible Web API server on loopback, for tests: it records what it receives and can misbehave.

Speaks just enough of https://api.slack.com/web for ``slack_sdk.WebClient(base_url=server.base_url)``:
``chat.postMessage``, ``conversations.history`` / ``conversations.replies`` (with message metadata),
``files.getUploadURLExternal``, the upload URL it hands out, and ``files.completeUploadExternal``.

Faults: ``server.fail(method, "429" | "500" | "drop", times=n, retry_after=s)`` makes the next n calls of a
method answer 429 with Retry-After, 500, or close the connection without answering (nothing recorded);
``server.outage = True`` drops every connection until set back.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CHANNEL_ID = "C0ALERTS"


@dataclass
class Request:
    method: str  # "chat.postMessage", "upload", ...
    path: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, Any]  # JSON body, form fields or query string, decoded


@dataclass
class Fault:
    kind: str
    times: int
    retry_after: int = 1


@dataclass
class SlackServer:
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)  # every answered call, in order
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # answered or not
    messages: list[dict[str, Any]] = field(default_factory=list)  # posted messages, as Slack stores them
    outage: bool = False

    def __post_init__(self) -> None:
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._httpd = ThreadingHTTPServer((self.host, 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="slack-server", daemon=True)

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/"

    def start(self) -> SlackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, method: str, kind: str, times: int = 1, retry_after: int = 1) -> None:
        assert kind in ("429", "500", "drop")
        with self._lock:
            self._faults[method].append(Fault(kind, times, retry_after))

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def posts(self) -> list[dict[str, Any]]:
        return [r.params for r in self.calls("chat.postMessage")]

    # ------------------------------------------------------------------ behaviour

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            stored = {"type": "message", "ts": ts, "text": params.get("text"), "blocks": params.get("blocks"),
                      "thread_ts": params.get("thread_ts"), "metadata": params.get("metadata")}
            with self._lock:
                self.messages.append(stored)
            return {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": stored}
        if method in ("conversations.history", "conversations.replies"):
            thread = params.get("ts")
            with self._lock:
                found = [m for m in self.messages
                         if (m["thread_ts"] == thread or m["ts"] == thread) or (not thread and not m["thread_ts"])]
            return {"ok": True, "channel": CHANNEL_ID, "messages": list(reversed(found)), "has_more": False}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):08d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"http://{self.host}:{self.port}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files or []]}
        if method == "upload":
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _method(self) -> str:
                path = urlparse(self.path).path
                if path.startswith("/upload/"):
                    return "upload"
                return path.removeprefix("/api/")

            def _params(self, body: bytes) -> dict[str, Any]:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype and body:
                    return {**query, **json.loads(body)}
                if "x-www-form-urlencoded" in ctype and body:
                    return {**query, **{k: v[0] for k, v in parse_qs(body.decode()).items()}}
                return query

            def _handle(self) -> None:
                method = self._method()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.attempts[method] += 1
                fault = server._take_fault(method)
                if server.outage or (fault and fault.kind == "drop"):
                    self.close_connection = True
                    self.connection.close()  # no status line at all: RemoteDisconnected on the client
                    return
                if fault and fault.kind == "429":
                    self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)})
                    return
                if fault and fault.kind == "500":
                    self._send(500, {"ok": False, "error": "internal_error"})
                    return
                params = {} if method == "upload" else self._params(body)  # the upload is raw bytes
                headers = {k: v for k, v in self.headers.items()}
                with server._lock:
                    server.requests.append(Request(method, self.path, headers, body, params))
                self._send(200, server._answer(method, params))

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

        return Handler
