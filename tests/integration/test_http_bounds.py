"""The ops endpoints under hostile clients and a hung database (issue 13, item 5), over real sockets.

- 1,200 half-sent requests against a process whose file limit is 256: /healthz still answers at once, its
  database probe still opens fresh PostgreSQL connections, and the process never nears its file limit.
- A database that accepts TCP and never answers: /healthz says 503 within 2 s, every time, with one probe
  thread however many requests come.
- Clients that reset mid-answer, send half a request, or oversized headers: one log line, no traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from monitor.http import OpsServer, daemon_health
from storage.db import make_engine, ping
from tests.tcp_proxy import silent_server

REPO = Path(__file__).resolve().parents[2]
FILE_LIMIT = 256
HALF_SENT = 1200  # well beyond the harness's file limit


class Harness:
    def __init__(self, database_url: str, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ops_harness", database_url, *options], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("port "), (line, self._stderr_now())
        self.port = int(line.split()[1])

    def _stderr_now(self) -> str:
        self.proc.kill()
        return self.proc.communicate(timeout=10)[1]

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> str:
        """Ends the harness; returns its stderr."""
        try:
            _, err = self.proc.communicate(input="", timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
        return err


def _get(port: int, path: str = "/healthz", timeout: float = 10) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, json.loads(raw) if path != "/metrics" else {}, time.monotonic() - started


@pytest.fixture
def more_files() -> Iterator[None]:
    """The test itself holds HALF_SENT sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, HALF_SENT + 512))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def hung_database() -> Iterator[str]:
    """A 'PostgreSQL' that accepts TCP connections and never answers."""
    with silent_server() as port:
        yield f"postgresql://monitor:not-the-password@127.0.0.1:{port}/news"


def test_half_sent_requests_beyond_the_file_limit_leave_healthz_and_the_database_working(
    pg_admin_url: str, more_files: None
) -> None:
    harness = Harness(pg_admin_url, "--rlimit-nofile", str(FILE_LIMIT))
    attackers: list[socket.socket] = []
    try:
        assert _get(harness.port)[:2][0] == 200
        deadline = time.monotonic() + 30  # an unbounded server stops accepting: fail, do not wait for ever
        for _ in range(HALF_SENT):
            assert time.monotonic() < deadline, f"{len(attackers)} connections opened in 30 s"
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", harness.port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: ops\r\n")  # never finished
            except OSError:
                pass  # the server closed an older one of ours meanwhile: exactly what it should do
            attackers.append(s)
        assert harness.open_files() < FILE_LIMIT * 3 // 4, harness.open_files()
        # While every one of them is still open on our side: a probe gets in, and its database probe (a fresh
        # connection) works, so the daemon's own database work would too.
        for _ in range(5):
            status, body, took = _get(harness.port, timeout=5)
            assert status == 200 and body["database"] == "ok", body
            assert took < 2, took
        assert _get(harness.port, "/metrics")[0] == 200
        assert harness.open_files() < FILE_LIMIT * 3 // 4, harness.open_files()
    finally:
        for s in attackers:
            s.close()
        err = harness.stop()
    assert "Traceback" not in err, err[-3000:]


def test_healthz_answers_503_within_2s_when_the_database_hangs(hung_database: str) -> None:
    engine = make_engine(hung_database)
    daemon = SimpleNamespace(source=SimpleNamespace(assignment=lambda: [("news", 0)]),
                             stopping=threading.Event(), stats=SimpleNamespace(last_batch_at=None, stored=0))
    server = OpsServer("127.0.0.1", 0, daemon_health(daemon, lambda: ping(engine), lambda: {})).start()
    try:
        for _ in range(3):
            status, body, took = _get(server.port, timeout=10)
            assert status == 503 and body["database"] in ("timeout", "unreachable"), body
            assert took < 2, took
        # A burst at once: every answer within 2 s, and never more than one probe thread stuck on the database.
        results: list[tuple[int, float]] = []

        def one() -> None:
            status, _, took = _get(server.port, timeout=10)
            results.append((status, took))

        burst = [threading.Thread(target=one) for _ in range(20)]
        for t in burst:
            t.start()
        time.sleep(0.5)
        probes = [t for t in threading.enumerate() if t.name == "health-probe"]
        for t in burst:
            t.join()
        assert len(results) == 20 and all(status == 503 and took < 2.5 for status, took in results), results
        assert len(probes) <= 1, probes
    finally:
        # In a thread: a server whose handlers hang on the database would hang its own shutdown too.
        threading.Thread(target=server.stop, daemon=True).start()


def test_clients_that_leave_mid_answer_or_never_finish_cost_one_log_line(pg_admin_url: str) -> None:
    harness = Harness(pg_admin_url, "--health-delay", "0.3", "--read-timeout", "1")
    try:
        for _ in range(10):  # ask, then reset the connection while the answer is being computed
            s = socket.create_connection(("127.0.0.1", harness.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: ops\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        time.sleep(1)
        # Half a request: closed (408) after the read timeout, not held forever.
        with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            started = time.monotonic()
            answer = s.recv(4096)
            assert time.monotonic() - started < 3
            assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer
        # Headers beyond the size limit: 431, at once.
        with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as s:
            with contextlib.suppress(OSError):
                s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 431")
        with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 405")
        status, body, _ = _get(harness.port)
        assert status == 200 and body["database"] == "ok", body
    finally:
        err = harness.stop()
    assert "Traceback" not in err and "Exception" not in err, err[-3000:]
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # structured: one JSON object a line
    assert any("went away" in line["msg"] for line in lines), err[-3000:]
