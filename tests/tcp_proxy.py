"""A loopback TCP proxy that a test can cut and restore: the network fault of a real server without
stopping the server (PostgreSQL and the broker are shared with other tests and other people).

`cut()` closes every proxied connection (both ends see a reset / EOF, as when a server dies) and stops
listening, so new connections are refused; `restore()` listens on the same port again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from types import TracebackType

ACCEPT_POLL_S = 0.1


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = listen_port
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self.connections = 0  # accepted over the proxy's life: a test can check traffic really went through

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # REUSEADDR: restore() must get the same port back although cut connections sit in TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(ACCEPT_POLL_S)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting.set()
        threading.Thread(target=self._accept_loop, args=(listener,), name="proxy-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        self._accepting.clear()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for s in sockets:
            _close(s)

    def restore(self) -> None:
        if self._listener is None:
            self.start()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._accepting.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed by cut()
                return
            try:
                upstream = _connect(self.target)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if not self._accepting.is_set():  # cut() ran meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), name="proxy-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        # One side ended: end both, as a real connection would.
        _close(src)
        _close(dst)
        with self._lock:
            self._sockets.discard(src)
            self._sockets.discard(dst)


def _close(s: socket.socket) -> None:
    # shutdown() first: it wakes a thread blocked in recv() on this socket, close() alone does not.
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word: a hung PostgreSQL (or any
    server) for the tests of timeouts. Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    listener.settimeout(ACCEPT_POLL_S)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for s in [*held, listener]:
            s.close()


def _connect(target: tuple[str, int]) -> socket.socket:
    """TCP to (host, port); a host that is a directory is a PostgreSQL socket directory (the embedded server
    listens on a unix socket only): its .s.PGSQL.PORT."""
    host, port = target
    if not host.startswith("/"):
        return socket.create_connection(target, timeout=5)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.settimeout(5)
    try:
        unix.connect(f"{host}/.s.PGSQL.{port}")
    except OSError:
        unix.close()
        raise
    return unix
