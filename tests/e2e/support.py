"""Helpers for the end-to-end tests: `monitor ...` as a real subprocess, with a clean MONITOR_* environment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CHECKPOINT = REPO / "model" / "weights" / "news-classifier.safetensors"
FAST_GROUP_JSON = '{"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}'
# Read by the test fixtures, not by the product: they may stay in the children's environment.
_KEEP = {"MONITOR_TEST_PG_ADMIN_URL", "MONITOR_SHARED_DATA"}
STOP_WITHIN_S = 10


def monitor_env(**settings: str | os.PathLike[str] | None) -> dict[str, str]:
    """os.environ without inherited product settings, plus MONITOR_<NAME>=value for each keyword (None: unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") or k in _KEEP}
    # HTTP port 0: `monitor run` serves /healthz on a free port, never colliding with anything on 8000
    env.update({"MONITOR_DEVICE": "cpu", "MONITOR_LOG_LEVEL": "INFO", "MONITOR_HTTP_PORT": "0",
                "PYTHONUNBUFFERED": "1"})
    for name, value in settings.items():
        key = f"MONITOR_{name.upper()}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def monitor_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def run_monitor(
    *args: str, env: dict[str, str], stdin: str | None = None, cwd: Path | None = None, timeout: float = 50
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        monitor_cmd(*args), env=env, input=stdin, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], command: str, *needles: str) -> str:
    """Exit 2, no traceback, and exactly one `monitor COMMAND: error: ...` line naming every needle."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    line = errors[0]
    assert line.startswith(f"monitor {command}: error: "), line
    for needle in needles:
        assert needle.lower() in line.lower(), (needle, line)
    return line


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Daemon:
    """`monitor run` in the background; stderr goes to a file (a pipe nobody reads could fill and block it)."""

    def __init__(self, env: dict[str, str], log: Path, *, stdout_too: bool = False) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen(monitor_cmd("run"), env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr if stdout_too else subprocess.DEVNULL, stderr=self._stderr)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> float:
        """Send sig; assert a clean exit 0 within STOP_WITHIN_S; return the seconds it took."""
        assert self.proc.poll() is None, f"daemon died early:\n{self.stderr()[-3000:]}"
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"no exit within {STOP_WITHIN_S}s of {sig.name}:\n{self.stderr()[-3000:]}") from None
        took = time.monotonic() - started
        self._stderr.close()
        assert rc == 0, f"exit {rc} after {sig.name}:\n{self.stderr()[-3000:]}"
        assert "Traceback" not in self.stderr(), self.stderr()[-3000:]
        return took

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()

    def stored_count(self) -> int:
        """Articles stored by this process, from its shutdown log line."""
        found = re.findall(r"consumer closed; stored (\d+) articles, (\d+) dead letters", self.stderr())
        assert len(found) == 1, self.stderr()[-3000:]
        return int(found[0][0])

    def ops_port(self, timeout: float = 30) -> int:
        """The /healthz port the daemon logged (run it with MONITOR_HTTP_PORT=0)."""
        def logged() -> list[str]:
            return re.findall(r"ops endpoints on http://[\d.]+:(\d+)/", self.stderr())

        wait_for(lambda: bool(logged()) or self.proc.poll() is not None, timeout, "the ops endpoints log line")
        assert logged(), self.stderr()[-3000:]
        return int(logged()[0])
